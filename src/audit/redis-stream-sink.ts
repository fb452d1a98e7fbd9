import type { Redis } from 'ioredis';
import { PartialWriteError, errorMessage, type DecisionLogSink } from './sink';

export interface RedisStreamSinkOptions {
  /** Approximate cap on the stream's length (`XADD … MAXLEN ~ n`). Default 100,000. */
  maxLen?: number;
}

/**
 * Each record is one stream entry, field `record` = the JSON line; a batch is one pipeline (one
 * round trip). Entries a failed pipeline did not add are reported as unwritten, so a retry never
 * duplicates the ones it did.
 */
export class RedisStreamSink implements DecisionLogSink {
  private readonly maxLen: number;

  /** Writes through a client the caller owns (and closes). */
  constructor(
    private readonly client: Redis,
    readonly key: string,
    opts: RedisStreamSinkOptions = {},
  ) {
    this.maxLen = opts.maxLen ?? 100_000;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 1) {
      throw new RangeError('maxLen must be a positive integer');
    }
    if (key === '') throw new RangeError('the stream key must not be empty');
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

  /** Nothing of its own to close: DecisionLog awaits the writes in flight, the client is the caller's. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
