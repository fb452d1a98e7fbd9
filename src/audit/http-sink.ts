import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { errorMessage, type DecisionLogSink } from './sink';

const gzipAsync = promisify(gzip);

export interface HttpSinkOptions {
  /** Per request, body included. Default 10 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The collector answered, but not with a 2xx. */
export class HttpSinkError extends Error {
  override readonly name = 'HttpSinkError';

  constructor(
    message: string,
    readonly status: number | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * POSTs each batch as one gzip-compressed JSON array, as OPA's decision log plugin does. Any
 * non-2xx answer, network error or timeout rejects, and DecisionLog retries with backoff.
 * Credentials in the URL become a Basic Authorization header (fetch refuses them in the URL) and
 * never appear in error messages.
 */
export class HttpSink implements DecisionLogSink {
  /** The URL without credentials or query, safe to log. */
  readonly target: string;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(url: string, opts: HttpSinkOptions = {}) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new RangeError(`decision log collector must be http or https, not ${parsed.protocol}`);
    }
    this.headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    if (parsed.username !== '' || parsed.password !== '') {
      const user = decodeURIComponent(parsed.username);
      const pass = decodeURIComponent(parsed.password);
      this.headers['authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      parsed.username = '';
      parsed.password = '';
    }
    this.url = parsed;
    // Origin and path only: a query string can carry a collector token.
    this.target = `${parsed.origin}${parsed.pathname}`;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) {
      throw new RangeError('timeoutMs must be a positive integer');
    }
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  async write(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const run = this.post(lines);
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async post(lines: string[]): Promise<void> {
    // The lines are JSON already: joined, not parsed and re-serialized.
    const body = await gzipAsync(Buffer.from(`[${lines.join(',')}]`));
    const signal = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await this.fetch(this.url, { method: 'POST', headers: this.headers, body, signal });
      // Read the answer so the keep-alive connection is reused.
      await res.arrayBuffer();
    } catch (err) {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
      const { cause } = err as { cause?: unknown };
      const reason = cause === undefined ? errorMessage(err) : errorMessage(cause);
      throw new HttpSinkError(`decision log POST to ${this.target} failed: ${reason}`, null, {
        cause: err,
      });
    }
    if (res.status < 200 || res.status > 299) {
      throw new HttpSinkError(`decision log POST to ${this.target} answered ${res.status}`, res.status);
    }
  }
}
