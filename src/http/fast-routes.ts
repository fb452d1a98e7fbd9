import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CallerAuth } from '../auth/caller-auth';
import type { Role } from '../config';
import type { GatewayService } from '../decision/gateway';
import { decideResponseJson, type DecisionService } from '../decision/service';
import type { Validators } from '../decision/validators';
import { PdpError, toErrorBody } from '../errors';
import { EVALUATION_PATH, requestIdToEcho, type AuthzenEvaluator } from '../routes/authzen';
import { authorizeReply, type GatewayRouteOptions } from '../routes/gateway';
import { UNAUTHENTICATED_CHALLENGE, answerFor, shapeViolation } from './middleware';
import { jsonReply, writeReply, type Reply } from './reply';

/**
 * The hot routes served straight from node:http, in front of express: POST /v1/decide, the
 * gateway's /v1/authorize checks and POST /access/v1/evaluation. Express's routing, middleware
 * chain and response helpers cost several times the decision itself; these routes share the
 * validators, services, caller auth, reply builders and error mapping with the express routes, so
 * both answer the same bytes (test/integration/fast-routes.test.ts compares them).
 *
 * Only the plain, common form of a request is served here: anything unusual (another method or
 * target spelling, a query string, a charset or content encoding, chunked or oversized bodies, no
 * Host) falls through to express untouched, which answers it as it always has. Nothing is read
 * from a request before it is known to be served here.
 */
export interface FastRouteDeps {
  decisions: DecisionService;
  gateway: GatewayService;
  validators: Validators;
  authzen: AuthzenEvaluator;
  auth: CallerAuth;
  logger: Logger;
  bodyLimitBytes: number;
  /** The gateway route's mount point and proxy trust, as for the express route. */
  gatewayRoute: GatewayRouteOptions;
}

/** `application/json`, optionally with a UTF-8 charset: what the JSON body parser accepts as is. */
const PLAIN_JSON = /^application\/json(?:\s*;\s*charset="?utf-8"?)?$/i;
const DIGITS = /^[0-9]{1,9}$/;
const DECIDE_PATH = '/v1/decide';
const DECIDE_ROLES: readonly Role[] = ['decide'];
const AUTHZEN_ROLES: readonly Role[] = ['authorize', 'decide'];
const AUTHORIZE_ROLES: readonly Role[] = ['authorize'];

/** The declared body length when the body is plain JSON this path can read whole; else null. */
function plainJsonLength(req: IncomingMessage, limit: number): number | null {
  const { headers } = req;
  if (headers['transfer-encoding'] !== undefined || headers['content-encoding'] !== undefined) return null;
  const type = headers['content-type'];
  const length = headers['content-length'];
  if (type === undefined || length === undefined || !PLAIN_JSON.test(type) || !DIGITS.test(length)) {
    return null;
  }
  const n = Number(length);
  return n > 0 && n <= limit ? n : null;
}

/** The request's body bytes (Node's parser holds the stream to the declared Content-Length). */
function readBody(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    req.once('end', () => {
      if (received !== length) {
        reject(new PdpError('invalid_request', 'The request size did not match Content-Length'));
        return;
      }
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
    });
    req.once('aborted', () => {
      reject(new PdpError('invalid_request', 'The request was aborted'));
    });
    req.once('error', () => {
      reject(new PdpError('invalid_request', 'The request was aborted'));
    });
  });
}

/** As the express JSON body middleware: UTF-8 only, a leading BOM dropped, then the shape limits. */
function parseBody(buf: Buffer): unknown {
  if (!isUtf8(buf)) throw new PdpError('invalid_utf8', 'The request body is not valid UTF-8');
  const text = buf.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    throw new PdpError('invalid_json', 'The request body is not valid JSON');
  }
  const error = shapeViolation(body, text);
  if (error !== null) throw error;
  return body;
}

function errorReply(err: unknown, logger: Logger, req: IncomingMessage, path: string): Reply {
  const error = answerFor(err, logger, req.method ?? '', path);
  return jsonReply(
    error.status,
    toErrorBody(error),
    error.code === 'unauthenticated' ? [['WWW-Authenticate', UNAUTHENTICATED_CHALLENGE]] : [],
  );
}

/** Serves the hot routes and hands every other request to `fallback` (the express app). */
export function fastRoutes(
  deps: FastRouteDeps,
  fallback: (req: IncomingMessage, res: ServerResponse) => void,
): RequestListener {
  const { decisions, gateway, validators, authzen, auth, logger, bodyLimitBytes } = deps;
  const gatewayOpts = deps.gatewayRoute;
  const prefix = gatewayOpts.pathPrefix;
  const prefixSlash = `${prefix}/`;

  const answer = (res: ServerResponse, reply: Reply): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    writeReply(res, reply);
  };

  async function decide(req: IncomingMessage, length: number): Promise<Reply> {
    const body = parseBody(await readBody(req, length));
    const caller = await auth.authenticate(req, DECIDE_ROLES, false);
    const decision = await decisions.decide(validators.decide(body), { caller: caller.name });
    return { status: 200, headers: [], json: decideResponseJson(decision) };
  }

  async function evaluation(req: IncomingMessage, res: ServerResponse, length: number): Promise<Reply> {
    const body = parseBody(await readBody(req, length));
    const id = requestIdToEcho(req.headers['x-request-id']);
    if (id !== undefined) res.setHeader('X-Request-ID', id);
    const caller = await auth.authenticate(req, AUTHZEN_ROLES, false);
    return jsonReply(200, await authzen.evaluation(body, { endpoint: 'authzen', caller: caller.name }));
  }

  async function authorize(req: IncomingMessage, url: string): Promise<Reply> {
    const caller = await auth.authenticate(req, AUTHORIZE_ROLES, true);
    return authorizeReply(gateway, gatewayOpts, req, url, caller.name);
  }

  const serve = (req: IncomingMessage, res: ServerResponse, path: string, work: Promise<Reply>): void => {
    work.then(
      (reply) => {
        answer(res, reply);
      },
      (err: unknown) => {
        answer(res, errorReply(err, logger, req, path));
      },
    );
  };

  return (req, res) => {
    const url = req.url ?? '';
    // express answers a missing Host (requireHost) and every other oddity.
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      fallback(req, res);
      return;
    }
    if (url === prefix || url.startsWith(prefixSlash)) {
      if (req.method === 'HEAD') {
        fallback(req, res);
        return;
      }
      serve(req, res, url, authorize(req, url));
      return;
    }
    if (req.method !== 'POST' || (url !== DECIDE_PATH && url !== EVALUATION_PATH)) {
      fallback(req, res);
      return;
    }
    const length = plainJsonLength(req, bodyLimitBytes);
    if (length === null) {
      fallback(req, res);
      return;
    }
    serve(req, res, url, url === DECIDE_PATH ? decide(req, length) : evaluation(req, res, length));
  };
}
