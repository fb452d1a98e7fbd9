import {
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { cockatielBackoff } from '../backoff';
import type { BreakerState, StoreFailure, StoreHealth } from './types';

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  threshold: number;
  /** First wait before a half-open probe; each failed probe waits longer, with jitter, up to the max. */
  halfOpenMs: number;
  halfOpenMaxMs: number;
}

export interface CircuitOptions extends BreakerOptions {
  /** Budget of a probe: the store counts as back only once it answers within a decision's budget. */
  probeBudgetMs: number;
  /** The client has a connection (a call without one fails at once). */
  connected: () => boolean;
  ping: () => Promise<unknown>;
  onBreaker?: (to: BreakerState, from: BreakerState) => void;
  onReachable?: (health: StoreHealth, downForMs: number | null) => void;
}

/** The read took longer than its budget. */
export class StoreTimeout extends Error {
  constructor(ms: number) {
    super(`no reply from the store within ${ms} ms`);
  }
}

/** The breaker is open (or half-open with its probe in flight): the store was not called. */
export class CircuitOpen extends Error {
  constructor() {
    super('the signal store circuit is open');
  }
}

/** Replies that mean "cannot serve now" rather than a bad command or value. */
const UNAVAILABLE_REPLY = /^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|READONLY)\b/;

/** What a failed call says about the store; null: not an availability failure (it does not trip the breaker). */
export function classifyFailure(err: unknown): StoreFailure | null {
  if (err instanceof StoreTimeout) return 'timeout';
  if (!(err instanceof Error)) return 'connection';
  if (err.name === 'ReplyError') return UNAVAILABLE_REPLY.test(err.message) ? 'server' : null;
  // ioredis' own commandTimeout rejects with "Command timed out".
  if (/timed out/i.test(err.message)) return 'timeout';
  return 'connection';
}

/**
 * Settles like `work`, or rejects with StoreTimeout after `ms`. When the timer fires late (a busy
 * event loop), a reply may already sit in the socket: one more loop turn lets the poll phase read it
 * first, so a reply that arrived in time is not thrown away. A late rejection of `work` is absorbed.
 */
export function withBudget<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new StoreTimeout(ms));
      });
    }, ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** How often the prober looks; a look at an open breaker before its delay costs nothing. */
const PROBE_TICK_MS = 100;
/** With no successful call for this long, a closed breaker pings, so an idle replica notices an outage. */
const HEARTBEAT_MS = 1000;

const STATE_NAMES: Readonly<Record<CircuitState, BreakerState>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
};

/**
 * The store's circuit breaker (cockatiel: consecutive-failure breaker, half-open delay on the
 * shared exponential backoff with jitter) and its health view. Callers ask `closed` first and do
 * not call the store at all otherwise, so an open breaker costs a decision nothing. Half-open
 * probes are PINGs from a background prober, never a decision waiting on a dead store; the prober
 * also pings an idle store (heartbeat) so an outage is noticed without traffic.
 */
export class StoreCircuit {
  private readonly policy: CircuitBreakerPolicy;
  private readonly timer: NodeJS.Timeout;
  private reachable = false;
  private sinceMs = Date.now();
  private lastFailure: StoreFailure | null = null;
  private lastOkAt = 0;
  /** A call failed for want of a connection before the client noticed it lost one. */
  private connectionLost = false;
  private probing = false;
  private breakerState: BreakerState = 'closed';

  constructor(private readonly opts: CircuitOptions) {
    this.policy = circuitBreaker(
      handleWhen((err) => classifyFailure(err) !== null),
      {
        breaker: new ConsecutiveBreaker(opts.threshold),
        halfOpenAfter: cockatielBackoff({ initialMs: opts.halfOpenMs, maxMs: opts.halfOpenMaxMs }),
      },
    );
    this.policy.onSuccess(() => {
      this.lastOkAt = Date.now();
      if (this.connectionLost) {
        this.connectionLost = false;
        this.refresh();
      }
    });
    this.policy.onFailure(({ handled, reason }) => {
      if (!handled || !('error' in reason)) return;
      this.lastFailure = classifyFailure(reason.error);
      // A slow reply alone does not make the store unreachable (the breaker decides that); a
      // connection that is gone does, even before the client's own close event.
      if (this.lastFailure === 'connection') {
        this.connectionLost = true;
        this.refresh();
      }
    });
    this.policy.onStateChange((state) => {
      const from = this.breakerState;
      this.breakerState = STATE_NAMES[state];
      this.refresh();
      if (from !== this.breakerState) opts.onBreaker?.(this.breakerState, from);
    });
    this.timer = setInterval(() => {
      this.tick();
    }, PROBE_TICK_MS);
    this.timer.unref();
  }

  /** True when calls may go to the store. */
  get closed(): boolean {
    return this.policy.state === CircuitState.Closed;
  }

  /** Runs one store call through the breaker, bounded by `budgetMs` when given. */
  async run<T>(call: () => Promise<T>, budgetMs?: number): Promise<T> {
    if (!this.closed) throw new CircuitOpen();
    return this.policy.execute(() => (budgetMs === undefined ? call() : withBudget(call(), budgetMs)));
  }

  /** The connection dropped or came back: re-evaluate reachability now rather than on the next tick. */
  connectionChanged(): void {
    if (this.opts.connected()) this.connectionLost = false;
    else this.lastFailure = 'connection';
    this.refresh();
  }

  health(): StoreHealth {
    return {
      kind: 'redis',
      reachable: this.reachable,
      breaker: this.breakerState,
      since: new Date(this.sinceMs).toISOString(),
      last_failure: this.reachable ? null : this.lastFailure,
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private refresh(): void {
    const reachable = this.opts.connected() && !this.connectionLost && this.closed;
    if (reachable === this.reachable) return;
    const now = Date.now();
    const downForMs = reachable ? now - this.sinceMs : null;
    this.reachable = reachable;
    this.sinceMs = now;
    this.opts.onReachable?.(this.health(), downForMs);
  }

  private tick(): void {
    this.refresh();
    // Without a connection a probe fails at once and only lengthens the breaker's backoff.
    if (this.probing || !this.opts.connected()) return;
    const state = this.policy.state;
    if (state === CircuitState.HalfOpen) return;
    if (state === CircuitState.Closed && Date.now() - this.lastOkAt < HEARTBEAT_MS) return;
    this.probing = true;
    // Open and still inside its delay: execute rejects at once with BrokenCircuitError.
    this.policy
      .execute(() => withBudget(this.opts.ping(), this.opts.probeBudgetMs))
      .catch(() => undefined)
      .finally(() => {
        this.probing = false;
      });
  }
}
