import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { retryStrategy } from '../backoff';
import { RECONNECT_BACKOFF } from '../store/redis-connection';
import { PartialWriteError, errorMessage, type DecisionLogSink } from './sink';

export interface RedisStreamSinkOptions {
  /** Approximate cap on the stream's length (`XADD … MAXLEN ~ n`). Default 100,000. */
  maxLen?: number;
  logger: Logger;
}

/**
 * Each record is one stream entry, field `record` = the JSON line; a batch is one pipeline (one
 * round trip). Entries a failed pipeline did not add are reported as unwritten, so a retry never
 * duplicates the ones it did.
 */
export class RedisStreamSink implements DecisionLogSink {
  private readonly maxLen: number;

  private constructor(
    private readonly client: Redis,
    readonly key: string,
    private readonly ownsClient: boolean,
    opts: RedisStreamSinkOptions,
  ) {
    this.maxLen = opts.maxLen ?? 100_000;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 1) {
      throw new RangeError('maxLen must be a positive integer');
    }
    if (key === '') throw new RangeError('the stream key must not be empty');
  }

  /** Writes through a client the caller owns (and closes). */
  static withClient(client: Redis, key: string, opts: RedisStreamSinkOptions): RedisStreamSink {
    return new RedisStreamSink(client, key, false, opts);
  }

  /** Opens its own connection, closed by close(). */
  static connect(url: string, key: string, opts: RedisStreamSinkOptions): RedisStreamSink {
    const client = new Redis(url, {
      // A batch waits out a short reconnect instead of failing at once; DecisionLog retries the rest.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      commandTimeout: 5000,
      connectTimeout: 2000,
      retryStrategy: retryStrategy(RECONNECT_BACKOFF),
    });
    let down = false;
    client.on('error', (err: Error) => {
      if (down) return;
      down = true;
      opts.logger.warn({ err: err.message }, 'decision log redis connection error');
    });
    client.on('ready', () => {
      down = false;
    });
    return new RedisStreamSink(client, key, true, opts);
  }

  async write(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const pipeline = this.client.pipeline();
    for (const line of lines) {
      pipeline.xadd(this.key, 'MAXLEN', '~', this.maxLen, '*', 'record', line);
    }
    const results = await pipeline.exec();
    if (results === null) throw new Error('decision log redis pipeline was discarded');
    const unwritten: string[] = [];
    let firstError: unknown = null;
    for (let i = 0; i < lines.length; i++) {
      const reply = results[i];
      if (reply !== undefined && reply[0] === null) continue;
      firstError ??= reply?.[0] ?? new Error('no reply');
      unwritten.push(lines[i] ?? '');
    }
    if (unwritten.length === 0) return;
    const message = `decision log XADD failed for ${unwritten.length} of ${lines.length}: ${errorMessage(firstError)}`;
    if (unwritten.length === lines.length) throw new Error(message, { cause: firstError });
    throw new PartialWriteError(message, unwritten, { cause: firstError });
  }

  async close(): Promise<void> {
    if (!this.ownsClient) return;
    // QUIT waits for replies in flight; with no connection it would wait for a reconnect instead.
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}
