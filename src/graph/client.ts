import { backoffDelay, type BackoffShape, type Random } from '../backoff';
import { retryAfterMs, TokenError, type TokenProvider } from './token';

/** A Graph request that failed for good (after its retries): the resource's sync fails, nothing is deleted. */
export class GraphError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

export interface GraphClientOptions {
  /** e.g. `https://graph.microsoft.com/beta` (no trailing slash needed). */
  baseUrl: string;
  tokens: TokenProvider;
  timeoutMs: number;
  concurrency: number;
  maxRetries: number;
  backoff?: BackoffShape;
  /** Longest Retry-After honoured; a longer one fails the request (the next cycle tries again). */
  maxRetryAfterMs?: number;
  random?: Random;
  sleep?: (ms: number) => Promise<void>;
  /** Counts a 429/503 answer (metrics). */
  onThrottle?: (status: number, waitMs: number) => void;
  fetch?: typeof fetch;
}

/** One page of a collection: its items and where the listing goes on. */
export interface Page {
  value: unknown[];
  nextLink: string | null;
  deltaLink: string | null;
}

const DEFAULT_BACKOFF: BackoffShape = { initialMs: 200, maxMs: 30_000, jitter: 0.5 };
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/** Largest page body read (Graph pages are ≤ 999 objects). */
const MAX_PAGE_BYTES = 32 * 1024 * 1024;

const realSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * GETs against Microsoft Graph: a bearer token from the TokenProvider (refreshed once on a 401),
 * at most `concurrency` requests in flight, a timeout per request, Retry-After honoured on 429 and
 * 503 (Graph's throttling guidance), otherwise the PDP's jittered exponential backoff on 5xx and
 * network errors. Links Graph returns (`@odata.nextLink`, `@odata.deltaLink`) are followed only on
 * the configured Graph origin: a forged link must not receive the token.
 */
export class GraphClient {
  private readonly origin: string;
  private readonly base: string;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** Requests sent (tests and metrics). */
  requests = 0;

  constructor(private readonly opts: GraphClientOptions) {
    const base = new URL(opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`);
    this.origin = base.origin;
    this.base = base.href;
  }

  /** A path relative to the base (`identity/conditionalAccess/policies`) or a link Graph returned. */
  resolve(pathOrLink: string): string {
    const url = new URL(pathOrLink, this.base);
    if (url.origin !== this.origin)
      throw new GraphError(`refusing a link off the Graph origin: ${url.origin}`, null);
    return url.href;
  }

  async page(pathOrLink: string): Promise<Page> {
    const body = await this.get(pathOrLink);
    const value = own(body, 'value');
    if (!Array.isArray(value))
      throw new GraphError(`${shortPath(pathOrLink)}: the answer has no "value" array`, 200);
    const next = own(body, '@odata.nextLink');
    const delta = own(body, '@odata.deltaLink');
    return {
      value,
      nextLink: typeof next === 'string' ? next : null,
      deltaLink: typeof delta === 'string' ? delta : null,
    };
  }

  /** Every page of a collection, in order; throws (having yielded nothing more) when a page fails. */
  async *pages(path: string): AsyncGenerator<Page> {
    let link: string | null = path;
    const seen = new Set<string>();
    while (link !== null) {
      // A nextLink that loops would list forever.
      const url = this.resolve(link);
      if (seen.has(url)) throw new GraphError(`${shortPath(path)}: @odata.nextLink repeats`, null);
      seen.add(url);
      const page = await this.page(link);
      yield page;
      link = page.nextLink;
    }
  }

  /** Every item of a collection, and the deltaLink its last page carried. */
  async list(path: string): Promise<{ items: unknown[]; deltaLink: string | null }> {
    const items: unknown[] = [];
    let deltaLink: string | null = null;
    for await (const page of this.pages(path)) {
      items.push(...page.value);
      deltaLink = page.deltaLink ?? deltaLink;
    }
    return { items, deltaLink };
  }

  async get(pathOrLink: string): Promise<unknown> {
    const url = this.resolve(pathOrLink);
    const { maxRetries, backoff = DEFAULT_BACKOFF, maxRetryAfterMs = 120_000 } = this.opts;
    const sleep = this.opts.sleep ?? realSleep;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let wait: number;
      let failure: GraphError;
      try {
        const res = await this.send(url);
        if (res.ok) return await readJson(res, url);
        // Read to the end (error bodies are small): the connection goes back to the pool.
        await res.arrayBuffer().catch(() => undefined);
        if (res.status === 401 && !refreshed) {
          // An expired or revoked token: one fresh one, not counted as a retry.
          refreshed = true;
          this.opts.tokens.invalidate();
          attempt -= 1;
          continue;
        }
        failure = new GraphError(`${shortPath(url)}: Graph answered ${res.status}`, res.status);
        if (!RETRY_STATUS.has(res.status)) throw failure;
        const after = res.status === 429 || res.status === 503 ? retryAfterMs(res) : null;
        if (after !== null && after > maxRetryAfterMs) throw failure;
        wait = after ?? backoffDelay(backoff, attempt + 1, this.opts.random);
        if (res.status === 429 || res.status === 503) this.opts.onThrottle?.(res.status, wait);
      } catch (err) {
        if (err instanceof GraphError) throw err;
        if (err instanceof TokenError) {
          failure = new GraphError(err.message, err.status);
          if (err.status < 500 && err.status !== 429) throw failure;
          wait = err.retryAfterMs ?? backoffDelay(backoff, attempt + 1, this.opts.random);
        } else {
          failure = new GraphError(`${shortPath(url)}: ${describe(err)}`, null);
          wait = backoffDelay(backoff, attempt + 1, this.opts.random);
        }
      }
      if (attempt >= maxRetries) throw failure;
      await sleep(wait);
    }
  }

  private async send(url: string): Promise<Response> {
    await this.acquire();
    try {
      const token = await this.opts.tokens.token();
      this.requests += 1;
      return await (this.opts.fetch ?? fetch)(url, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ConsistencyLevel: 'eventual',
        },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        redirect: 'error',
      });
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.opts.concurrency) {
      this.active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting.push(() => {
        this.active += 1;
        resolve();
      });
    });
  }

  private release(): void {
    this.active -= 1;
    this.waiting.shift()?.();
  }
}

async function readJson(res: Response, url: string): Promise<unknown> {
  const text = await res.text();
  if (text.length > MAX_PAGE_BYTES) throw new GraphError(`${shortPath(url)}: answer too large`, res.status);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GraphError(`${shortPath(url)}: answer is not JSON`, res.status);
  }
}

function own(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null && !Array.isArray(o) && Object.hasOwn(o, key)
    ? (o as Record<string, unknown>)[key]
    : undefined;
}

/** The path without query (skip tokens are long and say nothing). */
function shortPath(url: string): string {
  try {
    return new URL(url, 'http://x').pathname;
  } catch {
    return '(link)';
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.name === 'TimeoutError' ? 'timed out' : err.message;
  return String(err);
}

/** Runs `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
