import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { backoffDelay } from '../backoff';
import { PdpError } from '../errors';
import { RecordMasker } from './mask';
import type { DecisionRecord } from './record';
import { RingBuffer } from './ring-buffer';
import { PartialWriteError, errorMessage, type DecisionLogSink } from './sink';

/**
 * Why records did not reach the sink. Every drop is counted, reported through `onDropped` and
 * logged (rate-limited): OPA's decision log is known for dropping silently under load; this one
 * never does.
 */
export type DropReason =
  /** The buffer was full: the sink is slower than the decision rate, or down. */
  | 'overflow'
  /** The sink kept failing for `maxAttempts` attempts. */
  | 'sink_error'
  /** The record could not be serialized (a cycle, a BigInt). */
  | 'unserializable'
  /** log() after close() began. */
  | 'closed'
  /** Still buffered, or still being retried, when close()'s deadline passed. */
  | 'shutdown';

/** Records serialized per event-loop turn (~0.5 ms of work), so requests are served in between. */
const SERIALIZE_SLICE = 100;

const DROP_REASONS: readonly DropReason[] = [
  'overflow',
  'sink_error',
  'unserializable',
  'closed',
  'shutdown',
];

export interface DecisionLogCounters {
  /** After each batch (or part of one) the sink accepted. */
  onWritten?: (n: number) => void;
  /** For each drop, at the moment it happens. */
  onDropped?: (n: number, reason: DropReason) => void;
}

export interface DecisionLogOptions extends DecisionLogCounters {
  /** null (PDP_DECISION_LOG=off): log() is a no-op. */
  sink: DecisionLogSink | null;
  logger: Logger;
  /** Epoch milliseconds; rate-limits the warnings. Default Date.now. */
  clock?: () => number;
  /** Records held while the sink is busy or down; beyond it, records are dropped (and counted). Default 10,000. */
  maxBuffered?: number;
  /** Records per sink write. Default 500, or maxBuffered when smaller. */
  batchSize?: number;
  /** A partial batch waits at most this long. Default 1,000 ms. */
  flushIntervalMs?: number;
  /** Tries per batch, the first included, before its records are dropped. Default 5. */
  maxAttempts?: number;
  /** Backoff before the n-th retry: retryBaseMs · 2^(n-1), capped at retryMaxMs, ± 20 % (src/backoff.ts). Defaults 200 ms, 5,000 ms. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** At most one drop warning (with the count since the last) and one sink-error warning per interval. Default 10,000 ms. */
  warnIntervalMs?: number;
  /** close()'s default deadline. Default 5,000 ms. */
  closeTimeoutMs?: number;
  /** JSON pointers erased on top of DEFAULT_ERASED_POINTERS. */
  mask?: readonly string[];
  /** Stamped on records that carry no labels of their own, e.g. {service, pid, worker}. */
  labels?: Readonly<Record<string, string>>;
}

export interface DecisionLogStats {
  buffered: number;
  written: number;
  dropped: Record<DropReason, number>;
}

function zeroes(): Record<DropReason, number> {
  return { overflow: 0, sink_error: 0, unserializable: 0, closed: 0, shutdown: 0 };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new PdpError('config_invalid', `decision log: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

interface Waiter {
  target: number;
  resolve: () => void;
}

/**
 * The decision log. `log()` is what a route calls after answering: synchronous, O(1), never
 * throws, never awaits; it only appends to a bounded ring buffer. Masking, serialization and I/O
 * happen later, in batches, one batch in flight at a time (so order is kept and a file sink never
 * sees two writers), triggered by a full batch, the flush interval, flush() or close().
 */
export class DecisionLog {
  private readonly sink: DecisionLogSink | null;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly buffer: RingBuffer<DecisionRecord>;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly warnIntervalMs: number;
  private readonly closeTimeoutMs: number;
  private readonly masker: RecordMasker;
  private readonly labels: Readonly<Record<string, string>> | undefined;
  private readonly onWritten: ((n: number) => void) | undefined;
  private readonly onDropped: ((n: number, reason: DropReason) => void) | undefined;
  private readonly timer: NodeJS.Timeout | null;

  /** Records accepted into the buffer, taken out of it, and settled (written or dropped), ever. */
  private accepted = 0;
  private taken = 0;
  private settled = 0;
  /** Records accepted before this count are flushed even as a partial batch. */
  private drainTo = 0;
  private waiters: Waiter[] = [];
  private pumping: Promise<void> | null = null;
  private scheduled = false;
  private closing = false;
  private closed: Promise<void> | null = null;
  /** Set at close()'s deadline: retries stop and what is left counts as dropped. */
  private aborted = false;
  private wake: (() => void) | null = null;

  private written = 0;
  private readonly dropped = zeroes();
  private unreported = zeroes();
  private lastDropWarnAt = Number.NEGATIVE_INFINITY;
  private lastSinkWarnAt = Number.NEGATIVE_INFINITY;
  private lastError: string | null = null;

  constructor(opts: DecisionLogOptions) {
    this.sink = opts.sink;
    this.logger = opts.logger;
    this.clock = opts.clock ?? Date.now;
    const maxBuffered = positiveInt('maxBuffered', opts.maxBuffered ?? 10_000);
    // The default batch never exceeds the buffer: PDP_DECISION_LOG_BUFFER accepts values below 500.
    this.batchSize = positiveInt('batchSize', opts.batchSize ?? Math.min(500, maxBuffered));
    if (this.batchSize > maxBuffered) {
      throw new PdpError('config_invalid', 'decision log: batchSize must not exceed maxBuffered');
    }
    const flushIntervalMs = positiveInt('flushIntervalMs', opts.flushIntervalMs ?? 1000);
    this.maxAttempts = positiveInt('maxAttempts', opts.maxAttempts ?? 5);
    this.retryBaseMs = positiveInt('retryBaseMs', opts.retryBaseMs ?? 200);
    this.retryMaxMs = positiveInt('retryMaxMs', opts.retryMaxMs ?? 5000);
    this.warnIntervalMs = positiveInt('warnIntervalMs', opts.warnIntervalMs ?? 10_000);
    this.closeTimeoutMs = positiveInt('closeTimeoutMs', opts.closeTimeoutMs ?? 5000);
    this.masker = new RecordMasker(opts.mask);
    this.labels = opts.labels;
    this.onWritten = opts.onWritten;
    this.onDropped = opts.onDropped;
    this.buffer = new RingBuffer(maxBuffered);
    this.timer =
      this.sink === null
        ? null
        : setInterval(() => {
            this.tick();
          }, flushIntervalMs).unref();
  }

  /** False for `off`: callers may skip building records at all. */
  get enabled(): boolean {
    return this.sink !== null;
  }

  /** The JSON pointers erased from every record. */
  get maskedPointers(): readonly string[] {
    return this.masker.pointers;
  }

  /** Hands a record over. The record must not be modified afterwards (it is serialized later). */
  log(record: DecisionRecord): void {
    if (this.sink === null) return;
    try {
      if (this.closing) {
        this.drop(1, 'closed');
        return;
      }
      if (!this.buffer.push(record)) {
        this.drop(1, 'overflow');
        return;
      }
      this.accepted++;
      if (this.buffer.length >= this.batchSize) this.schedule();
    } catch {
      // Nothing here throws short of a broken callback or logger; the response path must not see it.
    }
  }

  /**
   * Resolves true once every record logged before the call is written or counted as dropped;
   * false if `timeoutMs` passed first (the records stay queued).
   */
  async flush(timeoutMs?: number): Promise<boolean> {
    if (this.sink === null) return true;
    const target = this.accepted;
    if (this.settled >= target) return true;
    this.drainTo = Math.max(this.drainTo, target);
    const done = new Promise<boolean>((resolve) => {
      this.waiters.push({
        target,
        resolve: () => {
          resolve(true);
        },
      });
    });
    this.startPump();
    if (timeoutMs === undefined) return done;
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: during shutdown this timer is what keeps the process up until the drain ends.
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    try {
      return await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Graceful shutdown: refuses new records (counted as `closed`), drains the buffer until the
   * deadline, drops (and counts as `shutdown`) what is left, then closes the sink. Idempotent.
   */
  close(timeoutMs: number = this.closeTimeoutMs): Promise<void> {
    this.closed ??= this.shutdown(timeoutMs);
    return this.closed;
  }

  stats(): DecisionLogStats {
    return { buffered: this.buffer.length, written: this.written, dropped: { ...this.dropped } };
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.timer !== null) clearInterval(this.timer);
    const sink = this.sink;
    if (sink === null) return;
    const started = Date.now();
    const drained = await this.flush(timeoutMs);
    if (!drained) {
      this.aborted = true;
      this.wake?.();
      const left = this.buffer.clear();
      this.taken += left;
      this.settle(left, 'shutdown');
      this.logger.warn(
        { timeout_ms: timeoutMs, buffered_dropped: left, in_flight: this.taken - this.settled },
        'decision log close deadline passed before the buffer drained',
      );
    }
    this.reportDrops(true);
    const remaining = Math.max(timeoutMs - (Date.now() - started), 250);
    let timer: NodeJS.Timeout | undefined;
    const closedInTime = await Promise.race([
      sink.close().then(
        () => true,
        (err: unknown) => {
          this.logger.warn({ err: errorMessage(err) }, 'decision log sink close failed');
          return true;
        },
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, remaining);
      }),
    ]);
    clearTimeout(timer);
    if (!closedInTime) this.logger.warn({ timeout_ms: remaining }, 'decision log sink did not close in time');
  }

  private tick(): void {
    this.drainTo = this.accepted;
    this.startPump();
    this.reportDrops(false);
  }

  /** A full batch is written soon, but after the current callback: never on the caller's stack. */
  private schedule(): void {
    if (this.pumping !== null || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startPump();
    });
  }

  private needsPump(): boolean {
    return this.buffer.length > 0 && (this.buffer.length >= this.batchSize || this.taken < this.drainTo);
  }

  private startPump(): void {
    if (this.pumping !== null || !this.needsPump()) return;
    this.pumping = this.pump()
      .catch((err: unknown) => {
        this.logger.error({ err: errorMessage(err) }, 'decision log pump failed');
      })
      .finally(() => {
        this.pumping = null;
        if (this.needsPump()) this.startPump();
      });
  }

  private async pump(): Promise<void> {
    while (this.needsPump()) {
      const records = this.buffer.take(this.batchSize);
      this.taken += records.length;
      const lines: string[] = [];
      for (let i = 0; i < records.length; i++) {
        // Masking and serializing a whole batch at once would stall requests for milliseconds.
        if (i > 0 && i % SERIALIZE_SLICE === 0) await yieldToLoop();
        const line = this.serialize(records[i] as DecisionRecord);
        if (line !== null) lines.push(line);
      }
      this.settle(records.length - lines.length, 'unserializable');
      if (lines.length > 0) await this.deliver(lines);
    }
  }

  private serialize(record: DecisionRecord): string | null {
    try {
      const masked = this.masker.mask(record);
      const labelled =
        this.labels !== undefined && masked.labels === undefined
          ? { ...masked, labels: this.labels }
          : masked;
      return JSON.stringify(labelled);
    } catch (err) {
      this.lastError = `record ${record.decision_id}: ${errorMessage(err)}`;
      return null;
    }
  }

  private async deliver(lines: string[]): Promise<void> {
    const sink = this.sink;
    if (sink === null) return;
    let pending = lines;
    for (let attempt = 1; ; attempt++) {
      try {
        await sink.write(pending);
        this.settleWritten(pending.length);
        return;
      } catch (err) {
        if (err instanceof PartialWriteError && err.unwritten.length < pending.length) {
          this.settleWritten(pending.length - err.unwritten.length);
          pending = [...err.unwritten];
        }
        this.lastError = errorMessage(err);
        if (attempt >= this.maxAttempts) {
          this.settle(pending.length, 'sink_error');
          return;
        }
        this.warnSinkError(attempt, pending.length);
        await this.backoff(attempt);
        if (this.aborted) {
          this.settle(pending.length, 'shutdown');
          return;
        }
      }
    }
  }

  private backoff(attempt: number): Promise<void> {
    const delay = backoffDelay({ initialMs: this.retryBaseMs, maxMs: this.retryMaxMs }, attempt);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, delay).unref();
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private settleWritten(n: number): void {
    if (n <= 0) return;
    this.written += n;
    this.settled += n;
    this.call(() => {
      this.onWritten?.(n);
    });
    this.release();
  }

  /** Accepted records that will never reach the sink. */
  private settle(n: number, reason: DropReason): void {
    if (n <= 0) return;
    this.settled += n;
    this.drop(n, reason);
    this.release();
  }

  private release(): void {
    while (this.waiters.length > 0 && (this.waiters[0]?.target ?? 0) <= this.settled) {
      this.waiters.shift()?.resolve();
    }
  }

  private drop(n: number, reason: DropReason): void {
    this.dropped[reason] += n;
    this.unreported[reason] += n;
    this.call(() => {
      this.onDropped?.(n, reason);
    });
    this.reportDrops(false);
  }

  /** One warning per interval at most, carrying every drop since the last one. */
  private reportDrops(force: boolean): void {
    const now = this.clock();
    if (!force && now - this.lastDropWarnAt < this.warnIntervalMs) return;
    const reasons: Partial<Record<DropReason, number>> = {};
    let count = 0;
    for (const reason of DROP_REASONS) {
      const n = this.unreported[reason];
      if (n > 0) reasons[reason] = n;
      count += n;
    }
    if (count === 0) return;
    this.lastDropWarnAt = now;
    this.unreported = zeroes();
    const total = DROP_REASONS.reduce((sum, r) => sum + this.dropped[r], 0);
    this.logger.warn(
      {
        dropped: count,
        reasons,
        total_dropped: total,
        buffered: this.buffer.length,
        last_error: this.lastError,
      },
      'decision log dropped records',
    );
  }

  private warnSinkError(attempt: number, records: number): void {
    const now = this.clock();
    if (now - this.lastSinkWarnAt < this.warnIntervalMs) return;
    this.lastSinkWarnAt = now;
    this.logger.warn(
      { err: this.lastError, attempt, max_attempts: this.maxAttempts, records },
      'decision log sink write failed; retrying',
    );
  }

  /** Counter callbacks are someone else's code: a throw there must not stop the log. */
  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'decision log counter callback failed');
    }
  }
}
