import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PdpError, toErrorBody, type ErrorCode } from '../errors';

/**
 * What Node's HTTP server answers by itself, before express sees a request: a request it cannot
 * parse, an `Expect` header, a CONNECT. Node's own answers have empty bodies (or, for CONNECT,
 * none at all); these give every one of them the API's JSON error shape and a stable code, and
 * refuse a declared body over the limit before the client is told to send it.
 */
export interface ServerGuardOptions {
  /** The JSON body limit (PDP_BODY_LIMIT_BYTES): a larger declared body is refused before `100 Continue`. */
  bodyLimitBytes: number;
}

/** Node's parser error codes that are not a plain 400 (as in Node's own `socketOnError`). */
const PARSER_ERRORS: ReadonlyMap<string, { code: ErrorCode; message: string }> = new Map<
  string,
  { code: ErrorCode; message: string }
>([
  ['HPE_HEADER_OVERFLOW', { code: 'headers_too_large', message: 'The request headers are too large' }],
  [
    'HPE_CHUNK_EXTENSIONS_OVERFLOW',
    { code: 'payload_too_large', message: 'The chunk extensions are too large' },
  ],
  ['ERR_HTTP_REQUEST_TIMEOUT', { code: 'request_timeout', message: 'The request took too long to arrive' }],
]);

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
};

function errorResponse(error: PdpError): string {
  const body = JSON.stringify(toErrorBody(error));
  return (
    `HTTP/1.1 ${error.status} ${REASONS[error.status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

function parserError(err: NodeJS.ErrnoException): PdpError {
  const known = err.code === undefined ? undefined : PARSER_ERRORS.get(err.code);
  if (known !== undefined) return new PdpError(known.code, known.message);
  return new PdpError('malformed_request', 'The request is not valid HTTP/1.1', [
    { pointer: '', message: err.code ?? 'parse error', keyword: 'http' },
  ]);
}

/** Writes a whole response on a raw socket, then closes it. */
function answer(socket: Duplex, error: PdpError): void {
  socket.on('error', () => socket.destroy());
  socket.end(errorResponse(error), () => socket.destroy());
}

/** Answers on the raw socket when express never got the request. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node does: write only if the peer can still read, and no response has begun on this
  // socket (a parse error in a pipelined request must not corrupt the response in flight).
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && (inFlight == null || !inFlight.headersSent)) {
    answer(socket, parserError(err));
    return;
  }
  socket.destroy();
}

function send(res: ServerResponse, error: PdpError): void {
  const body = JSON.stringify(toErrorBody(error));
  res.writeHead(error.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    // The body the client was about to send is not read: the connection cannot be reused.
    Connection: 'close',
  });
  res.end(body);
}

/** Content-Length as a number, when there is exactly one valid one (Node's parser refuses the rest). */
function declaredLength(req: IncomingMessage): number | null {
  const raw = req.headers['content-length'];
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : null;
}

/** Attaches the guards to an HTTP(S) server; every server the PDP listens with gets them. */
export function guardServer<S extends Server>(server: S, opts: ServerGuardOptions): S {
  server.on('clientError', onClientError);
  // With a listener, Node leaves `Expect: 100-continue` to us: refuse an oversized declared body
  // first, and only then tell the client to go on. A chunked body is limited while it is read.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const length = declaredLength(req);
    if (length !== null && length > opts.bodyLimitBytes) {
      send(res, new PdpError('payload_too_large', 'The request body is too large'));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    send(res, new PdpError('expectation_failed', 'Only "Expect: 100-continue" is supported'));
  });
  // Without a listener Node closes a CONNECT's socket with no answer at all.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    answer(socket, new PdpError('method_not_allowed', 'CONNECT is not supported'));
  });
  return server;
}
