import type { Logger } from 'pino';
import { describeThrown } from '../errors';
import type { RedisClient } from '../store/redis-connection';
import type { RedisLease } from './lease';
import { stateKey, type CycleKind, type GraphSync, type SyncState } from './sync';

export interface SyncWorkerOptions {
  sync: GraphSync;
  lease: RedisLease;
  redis: RedisClient;
  tenant: string;
  intervalMs: number;
  fullIntervalMs: number;
  leaseMs: number;
  clock: () => number;
  logger: Logger;
  /** Called as a cycle starts and ends (tests check that no two replicas overlap). */
  onCycle?: (event: 'start' | 'end', kind: CycleKind) => void;
  /** This replica became / stopped being the syncing one. */
  onLeadership?: (leader: boolean) => void;
}

/** An operator's request for a cycle, picked up by whichever replica holds the lease. */
export const requestKey = (tenant: string): string => `pdp:{${tenant}}:graph:request`;

/**
 * Every replica runs one; the one holding the Redis lease syncs. It ticks at least three times
 * per lease period (renewing the lease), starts a cycle when the interval is due or an operator
 * asked, and a full one when the full interval is due (reckoned from the shared state, so a new
 * leader continues the schedule). During a cycle the lease is renewed on a timer; a lost lease
 * stops the cycle before its next write.
 */
export class GraphSyncWorker {
  private timer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private leader = false;
  private lastCycleAt = 0;

  constructor(private readonly opts: SyncWorkerOptions) {}

  get isLeader(): boolean {
    return this.leader && this.opts.lease.held;
  }

  get tickMs(): number {
    return Math.max(20, Math.min(this.opts.intervalMs, this.opts.leaseMs / 3, 1000));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const started = this.opts.clock();
      this.running = this.tick().finally(() => {
        this.running = null;
        // Ticks keep their period from their start, so cycles start every interval, not interval + duration.
        this.schedule(Math.max(0, this.tickMs - (this.opts.clock() - started)));
      });
    }, ms);
    this.timer.unref();
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.opts.logger.info(
      { tenant: this.opts.tenant },
      leader ? 'Graph sync lease taken: this replica syncs' : 'Graph sync lease lost',
    );
    this.opts.onLeadership?.(leader);
  }

  private async tick(): Promise<void> {
    const { lease, redis, tenant, clock } = this.opts;
    let held: boolean;
    try {
      held = await lease.acquire();
    } catch (err) {
      held = false;
      this.opts.logger.warn({ err: describeThrown(err) }, 'Graph sync lease: Redis unreachable');
    }
    this.setLeader(held);
    if (!held || this.stopped) return;
    try {
      const requested = await redis.get(requestKey(tenant));
      if (requested !== null) await redis.del(requestKey(tenant));
      const now = clock();
      // A tick a few ms early still counts: timers drift, and a missed tick would double the period.
      if (requested === null && now - this.lastCycleAt < this.opts.intervalMs - Math.min(25, this.tickMs / 4))
        return;
      const state = await this.opts.sync.loadState();
      const lastFull = state.last_full_at === null ? 0 : Date.parse(state.last_full_at);
      const kind: CycleKind =
        requested === 'full' || now - lastFull >= this.opts.fullIntervalMs ? 'full' : 'incremental';
      const outcome = await this.cycle(kind);
      // A requested cycle cut short by a lost lease is asked for again, for whoever holds it next.
      if (requested !== null && outcome === 'lease_lost')
        await redis.set(requestKey(tenant), requested, 'PX', 600_000, 'NX');
    } catch (err) {
      this.opts.logger.error({ err: describeThrown(err) }, 'Graph sync cycle failed');
    }
  }

  private async cycle(kind: CycleKind): Promise<string | undefined> {
    this.lastCycleAt = this.opts.clock();
    const renew = setInterval(() => {
      void this.opts.lease.acquire().then(
        (ok) => {
          this.setLeader(ok);
        },
        () => undefined,
      );
    }, this.opts.leaseMs / 3);
    renew.unref();
    this.renewTimer = renew;
    this.opts.onCycle?.('start', kind);
    try {
      const state = await this.opts.sync.run(kind, this.opts.lease.token);
      this.opts.logger.info(
        { kind, outcome: state.last_cycle?.outcome, policy_set: state.policy_set.hash?.slice(0, 12) ?? null },
        'Graph sync cycle done',
      );
      return state.last_cycle?.outcome;
    } finally {
      this.opts.onCycle?.('end', kind);
      clearInterval(renew);
      this.renewTimer = null;
    }
  }

  /** Stops ticking, lets a running cycle finish, gives the lease up. */
  async stop(): Promise<void> {
    this.halt();
    await this.running?.catch(() => undefined);
    if (this.leader) await this.opts.lease.release().catch(() => undefined);
    this.setLeader(false);
  }

  /** Stops at once, as a crash would: no cycle awaited, the lease left to expire. */
  halt(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    this.timer = null;
    this.renewTimer = null;
  }
}

/** The shared state (any replica answers) and the operator's trigger. */
export class GraphSyncControl {
  constructor(
    private readonly redis: RedisClient,
    readonly tenant: string,
    private readonly worker: GraphSyncWorker | null,
  ) {}

  async state(): Promise<
    (SyncState & { leader_here: boolean }) | { tenant: string; last_cycle: null; leader_here: boolean }
  > {
    const raw = await this.redis.get(stateKey(this.tenant));
    const leader = this.worker?.isLeader ?? false;
    if (raw === null) return { tenant: this.tenant, last_cycle: null, leader_here: leader };
    return { ...(JSON.parse(raw) as SyncState), leader_here: leader };
  }

  /** Asks the lease holder for a cycle at its next tick (within a second). */
  async request(kind: CycleKind): Promise<void> {
    await this.redis.set(requestKey(this.tenant), kind, 'PX', 600_000);
  }
}
