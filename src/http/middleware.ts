import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { Logger } from 'pino';
import { PdpError, toErrorBody, type ErrorCode } from '../errors';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** 415 for a body that is not JSON, then express.json with the configured limit. */
export function jsonBody(limitBytes: number): RequestHandler[] {
  const parse = express.json({ limit: limitBytes, strict: false, type: () => true });
  return [
    (req: Request, _res: Response, next: NextFunction) => {
      if (!BODY_METHODS.has(req.method) || !hasBody(req)) {
        next();
        return;
      }
      if (req.is(['application/json', 'application/*+json']) === false) {
        throw new PdpError('unsupported_media_type', 'The request body must be application/json');
      }
      next();
    },
    parse,
  ];
}

/** body-parser's error types, mapped to stable codes. */
const BODY_ERRORS: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  'entity.too.large': { code: 'payload_too_large', message: 'The request body is too large' },
  'entity.parse.failed': { code: 'invalid_json', message: 'The request body is not valid JSON' },
  'encoding.unsupported': {
    code: 'unsupported_media_type',
    message: 'The content encoding is not supported',
  },
  'charset.unsupported': { code: 'unsupported_media_type', message: 'The charset is not supported' },
  'request.aborted': { code: 'invalid_request', message: 'The request was aborted' },
  'request.size.invalid': {
    code: 'invalid_request',
    message: 'The request size did not match Content-Length',
  },
  'entity.verify.failed': { code: 'invalid_request', message: 'The request body was rejected' },
};

function asPdpError(err: unknown): PdpError | null {
  if (err instanceof PdpError) return err;
  if (typeof err === 'object' && err !== null) {
    const e = err as { type?: unknown; status?: unknown; statusCode?: unknown };
    const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
    if (known !== undefined) return new PdpError(known.code, known.message);
    const status =
      typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
    if (status >= 400 && status < 500) return new PdpError('invalid_request', 'The request is invalid');
  }
  return null;
}

/** The one error → HTTP mapping. 5xx bodies carry no internals; the log gets everything. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const pdpError =
      asPdpError(err) ?? new PdpError('internal_error', 'unexpected error', [], { cause: err });
    if (pdpError.status >= 500) {
      logger.error({ err, code: pdpError.code, method: req.method, path: req.path }, pdpError.message);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (pdpError.code === 'unauthenticated') res.setHeader('WWW-Authenticate', 'Bearer realm="agent-pdp"');
    res.status(pdpError.status).json(toErrorBody(pdpError));
  };
}

export function notFound(_req: Request, _res: Response): never {
  throw new PdpError('not_found', 'No such endpoint');
}
