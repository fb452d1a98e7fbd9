import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface HttpAnswer {
  status: number;
  /** The body, or null when the request failed before a response (see `error`). */
  text: string | null;
  /** Connection refused/reset, timeout: the request got no HTTP answer. */
  error: string | null;
  /** Wall time from the call to the end of the body (or the failure). */
  ms: number;
}

export interface HttpCall {
  method?: 'GET' | 'POST' | 'PUT';
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  agent?: Agent;
}

/** One HTTP request on loopback; never throws: a failure is an answer with `error` set. */
export function call(url: string, opts: HttpCall = {}): Promise<HttpAnswer> {
  const started = performance.now();
  const target = new URL(url);
  if (target.hostname !== '127.0.0.1') throw new Error(`chaos targets loopback only, not ${target.hostname}`);
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number, text: string | null, error: string | null): void => {
      if (settled) return;
      settled = true;
      resolve({ status, text, error, ms: performance.now() - started });
    };
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        headers,
        ...(opts.agent !== undefined && { agent: opts.agent }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          done(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), null);
        });
        res.on('error', (err) => {
          done(0, null, err.message);
        });
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => {
      req.destroy(new Error('timeout'));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      done(0, null, err.code ?? err.message);
    });
    req.end(opts.body);
  });
}

/** Parses a JSON body, or null when it is not JSON. */
export function json(answer: HttpAnswer): unknown {
  if (answer.text === null) return null;
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    return null;
  }
}
