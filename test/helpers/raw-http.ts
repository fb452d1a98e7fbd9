import { Agent, request } from 'node:http';
import { connect } from 'node:net';

/** One HTTP response as it came off the wire. */
export interface WireResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * Sends bytes on a fresh loopback connection and collects everything the server writes until it
 * closes the connection or `idleMs` pass without data. `parts` are written in order, `gapMs`
 * apart (to send headers, wait for `100 Continue`, then a body).
 */
export async function rawExchange(
  port: number,
  parts: (string | Buffer)[],
  opts: { idleMs?: number; gapMs?: number } = {},
): Promise<string> {
  const idleMs = opts.idleMs ?? 1500;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const idle = (): void => {
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      idle();
    });
    socket.on('close', finish);
    // A reset after the server answered is an answer; before any byte it is a failure to report.
    socket.on('error', (err) => {
      if (chunks.length > 0) finish();
      else reject(err);
    });
    socket.on('connect', () => {
      void (async () => {
        for (const [i, part] of parts.entries()) {
          if (i > 0 && opts.gapMs !== undefined) await new Promise((r) => setTimeout(r, opts.gapMs));
          if (socket.destroyed) return;
          socket.write(part);
        }
        idle();
      })();
    });
  });
}

function dechunk(raw: string): string {
  let out = '';
  let rest = raw;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return out;
    const size = parseInt(rest.slice(0, eol), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** Every response in a raw exchange (a `100 Continue` comes before the final one). */
export function parseResponses(raw: string): WireResponse[] {
  const responses: WireResponse[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const status = Number(statusLine.split(' ')[1]);
    rest = rest.slice(end + 4);
    let body = '';
    const length = headers.get('content-length');
    if (status >= 200 && length !== undefined) {
      body = rest.slice(0, Number(length));
      rest = rest.slice(Number(length));
    } else if (status >= 200 && headers.get('transfer-encoding') === 'chunked') {
      body = dechunk(rest);
      rest = '';
    }
    responses.push({ status, headers, body: Buffer.from(body, 'latin1').toString('utf8') });
  }
  return responses;
}

export interface Exchange {
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

/**
 * One request through node:http (which, unlike fetch, sends any method, including TRACE and
 * CONNECT-like tokens, and any header value it can frame).
 */
export async function httpExchange(port: number, ex: Exchange, agent?: Agent): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: ex.method,
        path: ex.path,
        headers: ex.headers ?? {},
        ...(agent !== undefined && { agent }),
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers = new Map<string, string>();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
          }
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${ex.method} ${ex.path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(ex.body);
  });
}

/** The API's error shape: `{"error":{"code","message","details"}}` with a stable snake_case code. */
export function errorShapeProblem(res: WireResponse): string | null {
  if (!/^application\/json/.test(res.headers.get('content-type') ?? '')) {
    return `content-type ${res.headers.get('content-type') ?? '(none)'}`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    return `body is not JSON: ${res.body.slice(0, 80)}`;
  }
  const error: unknown = (parsed as { error?: unknown } | null)?.error;
  if (typeof error !== 'object' || error === null) return `no error object: ${res.body.slice(0, 80)}`;
  const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
  if (typeof code !== 'string' || !/^[a-z][a-z0-9_]*$/.test(code)) return 'no stable code';
  if (typeof message !== 'string') return 'no message';
  if (!Array.isArray(details)) return 'no details array';
  return null;
}
