import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { isUtf8 } from 'node:buffer';
import type { Logger } from 'pino';
import { PdpError, toErrorBody, type ErrorCode } from '../errors';
import { MAX_BODY_DEPTH, duplicateMember, jsonShapeViolation } from '../schemas/json-shape';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Error types thrown from the `verify` hook; body-parser passes `type` through to the error handler. */
const UTF8_INVALID = 'pdp.utf8.invalid';
const CHARSET_NOT_UTF8 = 'pdp.charset.unsupported';

function bodyError(type: string, message: string): Error {
  // A plain Error, not a PdpError: body-parser assigns `status` to what verify throws.
  return Object.assign(new Error(message), { type });
}

/**
 * Runs on the raw bytes, before they are decoded and parsed. JSON between systems is UTF-8
 * (RFC 8259 §8.1): another charset is refused, and so are invalid UTF-8 bytes, which decoding
 * would otherwise turn into U+FFFD and store as if they had been sent.
 */
function checkUtf8(buf: Buffer, encoding: string): void {
  if (!/^utf-?8$/i.test(encoding)) throw bodyError(CHARSET_NOT_UTF8, 'The charset must be utf-8');
  if (!isUtf8(buf)) throw bodyError(UTF8_INVALID, 'The request body is not valid UTF-8');
}

/**
 * Right after parsing, before anything stringifies, validates or stores the body: its depth and
 * reserved names on the parsed value, then duplicate names on the text it was parsed from.
 */
export function shapeViolation(body: unknown, text: string | undefined): PdpError | null {
  const violation =
    jsonShapeViolation(body, MAX_BODY_DEPTH) ?? (text === undefined ? null : duplicateMember(text));
  if (violation === null) return null;
  return violation.keyword === 'maxDepth'
    ? new PdpError('nesting_too_deep', 'The request body nests too deeply', [violation])
    : new PdpError('invalid_request', 'The request body is invalid', [violation]);
}

/**
 * 415 for a body that is not JSON, then express.json with the configured limit (UTF-8 only), then
 * the body's structural limits (depth, reserved and duplicate member names).
 */
export function jsonBody(limitBytes: number): RequestHandler[] {
  // The text as parsed, kept for the duplicate-name check; per request, dropped once checked.
  const texts = new WeakMap<Request, string>();
  const parse = express.json({
    limit: limitBytes,
    strict: false,
    type: () => true,
    verify: (req, _res, buf, encoding) => {
      checkUtf8(buf, encoding);
      texts.set(req as Request, buf.toString('utf8'));
    },
  });
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
    (req: Request, _res: Response, next: NextFunction) => {
      const text = texts.get(req);
      texts.delete(req);
      const error = shapeViolation(req.body, text);
      if (error !== null) throw error;
      next();
    },
  ];
}

/**
 * HTTP/1.1 requires a Host header (RFC 9112 §3.2). Node's own check answers with an empty body,
 * so it is off (server-options.ts) and done here, in the JSON error shape.
 */
export function requireHost(req: Request, _res: Response, next: NextFunction): void {
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    throw new PdpError('malformed_request', 'An HTTP/1.1 request must have a Host header');
  }
  next();
}

/**
 * OPTIONS is answered 405 on every path, before routing and authentication. Express would
 * otherwise answer it 200 with an `Allow` list for any path that has routes, without asking for
 * a credential: a map of the API for anyone. The PDP serves no browsers, so there is no CORS
 * preflight to answer; the same 405 on every path, known or not, discloses nothing. Mounted after
 * the gateway routes, which decide OPTIONS like any other method of the request they check.
 */
export function refuseOptions(req: Request, _res: Response, next: NextFunction): void {
  if (req.method !== 'OPTIONS') {
    next();
    return;
  }
  throw new PdpError('method_not_allowed', 'OPTIONS is not supported');
}

/** body-parser's error types, mapped to stable codes. */
const BODY_ERRORS: ReadonlyMap<string, { code: ErrorCode; message: string }> = new Map<
  string,
  { code: ErrorCode; message: string }
>([
  ['entity.too.large', { code: 'payload_too_large', message: 'The request body is too large' }],
  ['entity.parse.failed', { code: 'invalid_json', message: 'The request body is not valid JSON' }],
  [
    'encoding.unsupported',
    {
      code: 'unsupported_media_type',
      message: 'The content encoding is not supported',
    },
  ],
  ['charset.unsupported', { code: 'unsupported_media_type', message: 'The charset is not supported' }],
  ['request.aborted', { code: 'invalid_request', message: 'The request was aborted' }],
  [
    'request.size.invalid',
    {
      code: 'invalid_request',
      message: 'The request size did not match Content-Length',
    },
  ],
  ['entity.verify.failed', { code: 'invalid_request', message: 'The request body was rejected' }],
  [UTF8_INVALID, { code: 'invalid_utf8', message: 'The request body is not valid UTF-8' }],
  [CHARSET_NOT_UTF8, { code: 'unsupported_media_type', message: 'The charset must be utf-8' }],
]);

function asPdpError(err: unknown): PdpError | null {
  if (err instanceof PdpError) return err;
  if (typeof err === 'object' && err !== null) {
    const e = err as { type?: unknown; status?: unknown; statusCode?: unknown };
    const known = typeof e.type === 'string' ? BODY_ERRORS.get(e.type) : undefined;
    if (known !== undefined) return new PdpError(known.code, known.message);
    const status =
      typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
    if (status >= 400 && status < 500) return new PdpError('invalid_request', 'The request is invalid');
  }
  return null;
}

/** The challenge a 401 for a missing or bad caller credential carries. */
export const UNAUTHENTICATED_CHALLENGE = 'Bearer realm="agent-pdp"';

/** What an error answers as; a 5xx is logged with everything, its body carries no internals. */
export function answerFor(err: unknown, logger: Logger, method: string, path: string): PdpError {
  const pdpError = asPdpError(err) ?? new PdpError('internal_error', 'unexpected error', [], { cause: err });
  if (pdpError.status >= 500) {
    logger.error({ err, code: pdpError.code, method, path }, pdpError.message);
  }
  return pdpError;
}

/** The one error → HTTP mapping (the hot routes answer through it too: src/http/fast-routes.ts). */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const pdpError = answerFor(err, logger, req.method, req.path);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (pdpError.code === 'unauthenticated') res.setHeader('WWW-Authenticate', UNAUTHENTICATED_CHALLENGE);
    res.status(pdpError.status).json(toErrorBody(pdpError));
  };
}

export function notFound(_req: Request, _res: Response): never {
  throw new PdpError('not_found', 'No such endpoint');
}
