import { createHash } from 'node:crypto';
import { backoffDelay } from '../backoff';
import { PdpError, describeThrown } from '../errors';
import { MAX_BUNDLE_BYTES, untar } from './bundle';
import type { BundleRead, BundleSource } from './bundle-source';

/** The timer functions the remote source and the engine's poller use; injectable for tests. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real timers, unref'd so a pending poll or request timeout never holds the process open. */
export const realTimers: Timers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface HttpBundleSourceOptions {
  /** Request timeout (headers and body), default 10 s. */
  timeoutMs?: number | undefined;
  /** Cap of the retry delay after failed fetches, default 60 s (never below the poll interval). */
  maxBackoffMs?: number | undefined;
  /** Extra request headers, e.g. `authorization` for a private bundle server. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Largest accepted response body, default 64 MiB. */
  maxBytes?: number | undefined;
  fetch?: FetchLike | undefined;
  timers?: Timers | undefined;
  /** Jitter source in [0, 1), default Math.random. */
  random?: (() => number) | undefined;
}

/** Backoff shape, as OPA's `util.DefaultBackoff` (gRPC's): factor 1.6, ±20 % jitter. */
const BACKOFF_FACTOR = 1.6;

/** Redacts credentials and the query (often a token) from a URL used in logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid bundle URL>';
  }
}

/**
 * An OPA bundle served over HTTP(S) (OPA's bundle service protocol): GET with `If-None-Match` carrying
 * the ETag of the last bundle the engine accepted; 304 → unchanged; 2xx → the gzipped tarball;
 * anything else, a network error or a timeout → an error, and the next poll backs off exponentially
 * (capped, jittered) until a fetch succeeds. The ETag only advances when the engine commits a read, so
 * a bundle that failed verification is fetched whole again, never skipped by a 304.
 */
export class HttpBundleSource implements BundleSource {
  readonly kind = 'remote';
  /** The URL without credentials or query, used in messages. */
  readonly label: string;
  private etag: string | null = null;
  private bodyHash: string | null = null;
  private failures = 0;
  private readonly fetchFn: FetchLike;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxBytes: number;

  constructor(
    readonly location: string,
    private readonly opts: HttpBundleSourceOptions = {},
  ) {
    if (!/^https?:\/\//i.test(location)) {
      throw new PdpError('config_invalid', `bundle URL must be http(s): ${redactUrl(location)}`);
    }
    this.label = redactUrl(location);
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 60_000;
    this.maxBytes = opts.maxBytes ?? MAX_BUNDLE_BYTES;
  }

  /** Consecutive failed fetches (network, timeout, non-2xx); 0 after any 2xx or 304. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** The ETag sent as If-None-Match (that of the last committed bundle). */
  get currentEtag(): string | null {
    return this.etag;
  }

  reset(): void {
    this.etag = null;
    this.bodyHash = null;
  }

  /** The poll interval while healthy; after n failures min(cap, poll × 1.6ⁿ) ± 20 %. */
  nextPollDelayMs(pollMs: number): number {
    if (this.failures === 0) return pollMs;
    const shape = { initialMs: pollMs, maxMs: Math.max(this.maxBackoffMs, pollMs), factor: BACKOFF_FACTOR };
    return backoffDelay(shape, this.failures + 1, this.random);
  }

  async read(): Promise<BundleRead> {
    const headers: Record<string, string> = {
      accept:
        'application/vnd.openpolicyagent.bundles, application/gzip, application/octet-stream;q=0.9, */*;q=0.1',
      ...this.opts.headers,
    };
    if (this.etag !== null) headers['if-none-match'] = this.etag;
    const controller = new AbortController();
    const timer = this.timers.setTimeout(() => {
      controller.abort(new Error(`no complete response within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    let body: Buffer;
    let etag: string | null;
    try {
      let res: Response;
      try {
        res = await this.fetchFn(this.location, { headers, signal: controller.signal, redirect: 'follow' });
      } catch (err) {
        throw this.failed(
          controller.signal.aborted ? `no response within ${this.timeoutMs} ms` : describeCause(err),
        );
      }
      if (res.status === 304) {
        await res.body?.cancel().catch(() => undefined);
        if (this.etag === null) throw this.failed('HTTP 304 to a request without If-None-Match');
        this.failures = 0;
        return { status: 'unchanged' };
      }
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => undefined);
        throw this.failed(`HTTP ${res.status}${res.statusText !== '' ? ` ${res.statusText}` : ''}`);
      }
      try {
        body = await readBody(res, this.maxBytes);
      } catch (err) {
        throw this.failed(
          controller.signal.aborted ? `no complete response within ${this.timeoutMs} ms` : describeCause(err),
        );
      }
      etag = res.headers.get('etag');
    } finally {
      this.timers.clearTimeout(timer);
    }
    this.failures = 0;

    const hash = createHash('sha256').update(body).digest('hex');
    if (hash === this.bodyHash) {
      // Same bytes as the bundle in service (a server without ETags, or a new ETag for old content).
      if (etag !== null) this.etag = etag;
      return { status: 'unchanged' };
    }
    let files: Map<string, Buffer>;
    try {
      files = await untar(body);
    } catch (err) {
      throw new PdpError(
        'bundle_invalid',
        `${this.label}: not a readable bundle archive (${describeThrown(err)})`,
      );
    }
    return {
      status: 'files',
      files,
      source: this.label,
      commit: () => {
        this.etag = etag;
        this.bodyHash = hash;
      },
    };
  }

  private failed(reason: string): PdpError {
    this.failures += 1;
    return new PdpError('bundle_invalid', `${this.label}: bundle download failed: ${reason}`, [
      { pointer: '', message: reason },
    ]);
  }
}

/** Duck-typed: errors from fetch may come from another realm (jest's VM contexts), so no instanceof. */
function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return describeThrown(err);
}

function describeCause(err: unknown): string {
  // undici reports "fetch failed" with the useful part (ECONNREFUSED, ...) in `cause`.
  const cause = typeof err === 'object' && err !== null ? (err as { cause?: unknown }).cause : undefined;
  return cause !== undefined && cause !== null ? `${messageOf(err)} (${messageOf(cause)})` : messageOf(err);
}

async function readBody(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`body of ${declared} bytes exceeds ${maxBytes}`);
  }
  if (res.body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const result: unknown = await reader.read();
    const { done, value } = result as { done: boolean; value: unknown };
    if (done) break;
    if (!(value instanceof Uint8Array)) throw new Error('unexpected body chunk');
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`body exceeds ${maxBytes} bytes`);
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks);
}
