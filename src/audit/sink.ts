import { describeThrown } from '../errors';

/**
 * Where decision-log batches go. `write` resolves once the lines are durable as far as the sink
 * can tell, and rejects otherwise; DecisionLog retries a rejected batch with backoff.
 */
export interface DecisionLogSink {
  /** Lines are serialized records, without trailing newlines. One call at a time. */
  write(lines: string[]): Promise<void>;
  /** Waits for writes in flight, then releases what the sink owns (file handle, connection). */
  close(): Promise<void>;
}

/**
 * The message of anything thrown. Duck-typed, not `instanceof Error`: errors made by Node's core
 * (fs, net, undici's fetch) can come from another realm (a vm context, a jest sandbox).
 */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { message, code } = err as { message?: unknown; code?: unknown };
    if (typeof message === 'string' && message !== '') return message;
    if (typeof code === 'string') return code;
  }
  return describeThrown(err);
}

/** The `code` of a Node system error (ENOENT, ECONNREFUSED), if any. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code } = err as { code?: unknown };
  return typeof code === 'string' ? code : undefined;
}

/**
 * A write that got some lines through: only `unwritten` is retried, so records are neither lost
 * nor duplicated (a Redis pipeline can fail half way; a file can fail on rotation).
 */
export class PartialWriteError extends Error {
  override readonly name = 'PartialWriteError';

  constructor(
    message: string,
    readonly unwritten: readonly string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
