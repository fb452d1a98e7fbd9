import type { Logger } from 'pino';

/** What the store counts instead of logging one line per request. */
export type StoreEvent = 'stale' | 'unavailable' | 'read_failures' | 'corrupt' | 'connection_errors';

/**
 * Aggregates per-request store events during an outage: the first event opens a window, and when
 * it ends one line carries the counts (and the last detail) for the whole window. So a store
 * outage under load logs one summary per interval per process, not a line per decision; the
 * same counts are in the metrics. State changes (breaker, reachability) are logged by the store
 * at once, since they are few.
 */
export class OutageLog {
  private readonly counts = new Map<StoreEvent, number>();
  private last: Record<string, unknown> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private openedAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  count(event: StoreEvent, detail?: Record<string, unknown>): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
    if (detail !== undefined) this.last = { event, ...detail };
    if (this.timer !== null) return;
    this.openedAt = Date.now();
    this.timer = setTimeout(() => {
      this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Writes the window's summary line, if anything was counted. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.counts.size === 0) return;
    this.logger.warn(
      { window_ms: Date.now() - this.openedAt, ...Object.fromEntries(this.counts), last: this.last },
      'signal store: reads served stale or unavailable, and failures, in this window',
    );
    this.counts.clear();
    this.last = null;
  }
}
