import type { ChainableCommander } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { PdpError, describeThrown } from '../errors';
import {
  TRAIL_MAX_EVENTS,
  eventsOf,
  type AuditContext,
  type GovernanceEvent,
  type TrailQuery,
} from '../governance/trail';
import { AGENTS_INDEX, INVALIDATION_CHANNEL, agentTrailKey, indexKey, recordKey, trailKey } from './keys';
import { serialise } from './serialise';
import { OutageLog } from './outage-log';
import { connectWithin, createRedisClient, type RedisClient, type RedisTopology } from './redis-connection';
import { signalsScript, type SignalsReply } from './signals-script';
import { UNAVAILABLE, assemble, planQuery, type QueryPlan } from './snapshot';
import { CircuitOpen, StoreCircuit, classifyFailure, type BreakerOptions } from './store-circuit';
import type {
  BreakerState,
  RecordKind,
  RecordOf,
  SignalSnapshot,
  SignalStore,
  SignalsQuery,
  StoreHealth,
  RecordRef,
  Transaction,
  WriteOp,
} from './types';
import { CorruptValue, blueprintIdOf, parseRecord } from './values';

/** Read-modify-write attempts before a transaction gives up (503). */
const TRANSACT_ATTEMPTS = 5;
/** How long start-up, and a transaction (503 after), wait for a connection to become ready. */
const CONNECT_MS = 3000;

/** Why a decision's read fell back to the cache or failed closed. */
export type FallbackCause = 'breaker_open' | 'timeout' | 'error' | 'corrupt';

export interface RedisStoreOptions {
  /** Fresh for this long; after it a value is re-read (invalidation usually evicts it sooner). */
  cacheTtlMs: number;
  /** When Redis fails, a value is still served (marked degraded) this long after it went stale, as HTTP's stale-if-error. */
  staleIfErrorMs: number;
  maxEntries: number;
  clock: () => number;
  logger: Logger;
  /** Budget of one decision's read (PDP_STORE_TIMEOUT_MS); past it the read counts as a store failure. */
  readBudgetMs?: number;
  breaker?: BreakerOptions;
  /** One summary log line per this interval during an outage. */
  outageLogIntervalMs?: number;
  /** Metrics hooks: cache hits and misses per read, failed store calls, fallbacks, state changes. */
  onCacheLookup?: (hits: number, misses: number) => void;
  onError?: (operation: 'read' | 'write') => void;
  onFallback?: (result: 'stale' | 'unavailable', cause: FallbackCause) => void;
  onHealth?: (health: StoreHealth) => void;
  onBreakerTransition?: (to: BreakerState) => void;
}

/** The store's defaults, for callers that pass none; the settings table (src/settings.ts) shows these. */
export const STORE_DEFAULTS = {
  readBudgetMs: 50,
  breaker: { threshold: 5, halfOpenMs: 1000, halfOpenMaxMs: 2000 },
  outageLogIntervalMs: 10_000,
} as const;

interface Entry {
  value: unknown;
  fetchedAt: number;
}

/** Marks a key absent from the cache (null is a cached "no such record"). */
const MISS: unique symbol = Symbol('miss');
type Lookup = (key: string) => unknown;
/** Key prefixes of what the agent record leads to: its blueprint and the blueprint's risk. */
interface Prefixes {
  blueprint: string;
  risk: string;
}

/**
 * Redis-backed signals with a bounded LRU in front. A decision costs at most one round trip:
 * one MGET when the agent is cached (its blueprint joins the MGET), else one script call that
 * also reads the agent's blueprint. Every store call goes through a circuit breaker: once open,
 * decisions make no store call and answer from the stale-if-error cache or fail closed. Every
 * write publishes its key on `pdp:invalidate` and every replica evicts it.
 */
export class RedisStore implements SignalStore {
  readonly kind = 'redis' as const;
  private readonly cache: LRUCache<string, Entry>;
  /** Bumped on each eviction so a read in flight across an invalidation does not re-cache old data. */
  private generation = 0;
  /** Transactions' own connection, and the chain that runs them one at a time on it. */
  private txConn: RedisClient | null = null;
  private txQueue: Promise<unknown> = Promise.resolve();
  private readonly circuit: StoreCircuit;
  private readonly outageLog: OutageLog;
  private readonly readScript: (
    keys: readonly string[],
    blueprintPrefix: string,
    riskPrefix: string,
  ) => Promise<SignalsReply>;
  private readonly readBudgetMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly opts: RedisStoreOptions,
  ) {
    this.cache = new LRUCache<string, Entry>({ max: opts.maxEntries });
    this.readBudgetMs = opts.readBudgetMs ?? STORE_DEFAULTS.readBudgetMs;
    this.outageLog = new OutageLog(
      opts.logger,
      opts.outageLogIntervalMs ?? STORE_DEFAULTS.outageLogIntervalMs,
    );
    this.readScript = signalsScript(client);
    this.circuit = new StoreCircuit({
      ...(opts.breaker ?? STORE_DEFAULTS.breaker),
      probeBudgetMs: this.readBudgetMs,
      connected: () => client.status === 'ready',
      ping: () => client.ping(),
      onBreaker: (to, from) => {
        this.logBreaker(to, from);
        opts.onBreakerTransition?.(to);
        opts.onHealth?.(this.circuit.health());
      },
      onReachable: (health, downForMs) => {
        this.logReachable(health, downForMs);
        opts.onHealth?.(health);
      },
    });
    for (const event of ['ready', 'close', 'end']) {
      client.on(event, () => {
        this.circuit.connectionChanged();
      });
    }
    subscriber.on('message', (_channel: string, key: string) => {
      this.evict(key);
    });
    // Messages published while the subscription was down are lost: start from a clean cache.
    subscriber.on('ready', () => {
      this.generation++;
      this.cache.clear();
    });
    for (const c of [client, subscriber]) {
      c.on('error', (err: Error) => {
        this.outageLog.count('connection_errors', { err: err.message });
      });
    }
  }

  /** A `redis://` URL, or any topology (standalone, Sentinel, Cluster). */
  static async connect(target: string | RedisTopology, opts: RedisStoreOptions): Promise<RedisStore> {
    const topology: RedisTopology =
      typeof target === 'string'
        ? {
            redisUrl: target,
            redisSentinels: [],
            redisSentinelMaster: null,
            redisClusterNodes: [],
            redisPassword: null,
            redisTls: false,
          }
        : target;
    const client = createRedisClient(topology, 'commands');
    const subscriber = createRedisClient(topology, 'subscriber');
    const store = new RedisStore(client, subscriber, opts);
    // Start even when Redis is down: decisions fail closed until it returns, /readyz shows it.
    // Bounded: a Cluster client can stay in its initial slot discovery for a while, and start-up
    // must not hang on it; the subscription is re-sent by ioredis whenever the client reconnects.
    await Promise.all([client, subscriber].map((c) => connectWithin(c, CONNECT_MS)));
    subscriber.subscribe(INVALIDATION_CHANNEL).catch((err: unknown) => {
      opts.logger.warn({ err: describeThrown(err) }, 'redis subscribe deferred until reconnect');
    });
    store.circuit.connectionChanged();
    if (!store.circuit.health().reachable) {
      opts.logger.warn('signal store not reachable at start-up: decisions fail closed until it is');
    }
    return store;
  }

  evict(key: string): void {
    this.generation++;
    this.cache.delete(key);
  }

  async readSignals(q: SignalsQuery): Promise<SignalSnapshot> {
    const plan = planQuery(q);
    const keys = plan.kinds.map((kind, i) => recordKey(q.tenant, kind, plan.ids[i] ?? ''));
    const prefixes: Prefixes = {
      blueprint: recordKey(q.tenant, 'blueprint', ''),
      risk: recordKey(q.tenant, 'risk:blueprint', ''),
    };
    const now = this.opts.clock();
    const known = new Map<string, unknown>();
    for (const key of keys) this.lookupFresh(key, now, known);
    // A fresh agent names its blueprint: read it and its risk in the same MGET when not cached too.
    const cachedBlueprint = known.has(keys[0] ?? '') ? blueprintIdOf(known.get(keys[0] ?? '')) : null;
    const wanted = [...keys];
    if (cachedBlueprint !== null) {
      for (const prefix of [prefixes.blueprint, prefixes.risk]) {
        if (wanted.includes(prefix + cachedBlueprint)) continue;
        wanted.push(prefix + cachedBlueprint);
        this.lookupFresh(prefix + cachedBlueprint, now, known);
      }
    }
    const missing = wanted.filter((key) => !known.has(key));
    this.opts.onCacheLookup?.(wanted.length - missing.length, missing.length);
    const fromKnown: Lookup = (key) => (known.has(key) ? known.get(key) : MISS);
    if (missing.length === 0) return this.resolve(plan, keys, prefixes, fromKnown, false) ?? UNAVAILABLE;
    if (!this.circuit.closed) return this.fallback(plan, keys, prefixes, known, now, 'breaker_open');

    const generation = this.generation;
    let fetched: Map<string, unknown>;
    try {
      const agentMissing = missing[0] === keys[0];
      fetched = agentMissing
        ? await this.readWithScript(missing, prefixes)
        : await this.readWithMget(missing);
    } catch (err) {
      if (err instanceof CorruptValue) return this.failClosed('corrupt', err, q.tenant);
      if (err instanceof CircuitOpen) return this.fallback(plan, keys, prefixes, known, now, 'breaker_open');
      this.opts.onError?.('read');
      this.outageLog.count('read_failures', { err: describeThrown(err) });
      const cause = classifyFailure(err) === 'timeout' ? 'timeout' : 'error';
      return this.fallback(plan, keys, prefixes, known, now, cause);
    }
    const fetchedAt = this.opts.clock();
    for (const [key, value] of fetched) {
      known.set(key, value);
      if (generation === this.generation) this.cache.set(key, { value, fetchedAt });
    }
    return this.resolve(plan, keys, prefixes, fromKnown, false) ?? UNAVAILABLE;
  }

  /** The missing keys, the agent's among them: one script call that also reads its blueprint and its risk. */
  private async readWithScript(missing: string[], prefixes: Prefixes): Promise<Map<string, unknown>> {
    const reply = await this.circuit.run(
      () => this.readScript(missing, prefixes.blueprint, prefixes.risk),
      this.readBudgetMs,
    );
    const fetched = this.parseAll(missing, reply.values);
    const blueprintId = blueprintIdOf(fetched.get(missing[0] ?? ''));
    if (blueprintId !== null) {
      // Lua's cjson and JSON.parse must agree on which blueprint the agent names; a record where
      // they differ was not written through the API.
      if (reply.blueprintId !== blueprintId) {
        throw new CorruptValue(`agent at ${missing[0] ?? ''} names its blueprint ambiguously`);
      }
      const blueprintKey = prefixes.blueprint + blueprintId;
      const riskKey = prefixes.risk + blueprintId;
      fetched.set(blueprintKey, parseRecord(reply.blueprint, blueprintKey));
      fetched.set(riskKey, parseRecord(reply.blueprintRisk, riskKey));
    }
    return fetched;
  }

  private async readWithMget(missing: string[]): Promise<Map<string, unknown>> {
    const raw = await this.circuit.run(() => this.client.mgetBuffer(missing), this.readBudgetMs);
    return this.parseAll(missing, raw);
  }

  private parseAll(keys: readonly string[], raws: readonly (Buffer | null)[]): Map<string, unknown> {
    const values = new Map<string, unknown>();
    keys.forEach((key, i) => values.set(key, parseRecord(raws[i] ?? null, key)));
    return values;
  }

  /** Puts `key`'s cached value in `known` when still fresh. */
  private lookupFresh(key: string, now: number, known: Map<string, unknown>): void {
    const entry = this.cache.get(key);
    if (entry !== undefined && now - entry.fetchedAt < this.opts.cacheTtlMs) known.set(key, entry.value);
  }

  /** The snapshot from looked-up values, the agent's blueprint resolved; null when any is missing. */
  private resolve(
    plan: QueryPlan,
    keys: readonly string[],
    prefixes: Prefixes,
    lookup: Lookup,
    degraded: boolean,
  ): SignalSnapshot | null {
    const values = keys.map(lookup);
    if (values.includes(MISS)) return null;
    const blueprintId = blueprintIdOf(values[0]);
    const blueprint = blueprintId === null ? null : lookup(prefixes.blueprint + blueprintId);
    const risk = blueprintId === null ? null : lookup(prefixes.risk + blueprintId);
    if (blueprint === MISS || risk === MISS) return null;
    return assemble(
      plan,
      values,
      blueprint as RecordOf['blueprint'] | null,
      risk as RecordOf['risk:blueprint'] | null,
      degraded,
    );
  }

  /** Stale-if-error: every value from the cache within TTL + the stale window, else fail closed. */
  private fallback(
    plan: QueryPlan,
    keys: readonly string[],
    prefixes: Prefixes,
    known: ReadonlyMap<string, unknown>,
    now: number,
    cause: FallbackCause,
  ): SignalSnapshot {
    const usable = this.opts.cacheTtlMs + this.opts.staleIfErrorMs;
    const stale: Lookup = (key) => {
      if (known.has(key)) return known.get(key);
      const entry = this.cache.get(key);
      return entry !== undefined && now - entry.fetchedAt < usable ? entry.value : MISS;
    };
    const snapshot = this.resolve(plan, keys, prefixes, stale, true);
    if (snapshot === null) {
      this.opts.onFallback?.('unavailable', cause);
      this.outageLog.count('unavailable', { cause });
      return UNAVAILABLE;
    }
    this.opts.onFallback?.('stale', cause);
    this.outageLog.count('stale', { cause });
    return snapshot;
  }

  private failClosed(cause: FallbackCause, err: Error, tenant: string): SignalSnapshot {
    this.opts.onFallback?.('unavailable', cause);
    this.outageLog.count(cause === 'corrupt' ? 'corrupt' : 'unavailable', { err: err.message, tenant });
    return UNAVAILABLE;
  }

  async get<K extends RecordKind>(kind: K, tenant: string, id: string): Promise<RecordOf[K] | null> {
    const key = recordKey(tenant, kind, id);
    const raw = await this.command(() => this.client.getBuffer(key));
    try {
      return parseRecord(raw, key) as RecordOf[K] | null;
    } catch (err) {
      throw new PdpError('store_unavailable', describeThrown(err));
    }
  }

  async put<K extends RecordKind>(kind: K, tenant: string, id: string, value: RecordOf[K]): Promise<void> {
    const key = recordKey(tenant, kind, id);
    // Serialised before the command: a value that cannot be is the caller's fault, not Redis's.
    const json = serialise(value);
    await this.command(() => {
      const multi = this.client.multi().set(key, json).publish(INVALIDATION_CHANNEL, key);
      if (kind === 'agent') multi.sadd(indexKey(tenant, AGENTS_INDEX), id);
      return multi.exec();
    });
    this.evict(key);
  }

  async delete(kind: RecordKind, tenant: string, id: string): Promise<boolean> {
    const key = recordKey(tenant, kind, id);
    const result = await this.command(() => {
      const multi = this.client.multi().del(key).publish(INVALIDATION_CHANNEL, key);
      if (kind === 'agent') multi.srem(indexKey(tenant, AGENTS_INDEX), id);
      return multi.exec();
    });
    this.evict(key);
    const deleted = result?.[0]?.[1];
    return typeof deleted === 'number' && deleted > 0;
  }

  async write(tenant: string, ops: readonly WriteOp[], audit?: AuditContext): Promise<void> {
    const queued = this.prepareWrite(tenant, ops, audit);
    if (queued === null) return;
    await this.command(() => {
      const multi = this.client.multi();
      queued.fill(multi);
      return multi.exec();
    });
    for (const key of queued.keys) this.evict(key);
  }

  /**
   * A connection of its own to the same Redis (for the workers beside the store: leases, detection
   * counts), connected or trying to (ioredis reconnects by itself). The caller disconnects it.
   */
  async connection(): Promise<RedisClient> {
    const conn = this.duplicate();
    // Bounded, as at start-up: a Cluster client may stay in its slot discovery for a while.
    await connectWithin(conn, CONNECT_MS);
    return conn;
  }

  /** A new client for the same Redis, its errors left to its own reconnects (callers check status). */
  private duplicate(): RedisClient {
    const conn = this.client.duplicate();
    conn.on('error', () => undefined);
    return conn;
  }

  /**
   * WATCH, MGET, build, MULTI/EXEC, retried when a watched key changed. WATCH holds per
   * connection and the shared one carries other requests' commands, so transactions run one at a
   * time on a connection of their own, opened once and kept (a Cluster connection's slot discovery
   * takes seconds under load: one per transaction made each write that slow).
   */
  async transact<T>(
    tenant: string,
    reads: readonly RecordRef[],
    build: (values: unknown[]) => Transaction<T>,
  ): Promise<T> {
    const run = this.txQueue.then(() => this.transactNow(tenant, reads, build));
    this.txQueue = run.catch(() => undefined);
    return run;
  }

  private async transactNow<T>(
    tenant: string,
    reads: readonly RecordRef[],
    build: (values: unknown[]) => Transaction<T>,
  ): Promise<T> {
    const watched = reads.map((r) => recordKey(tenant, r.kind, r.id));
    for (let attempt = 0; attempt < TRANSACT_ATTEMPTS; attempt++) {
      const conn = await this.txConnection();
      let settled = false;
      try {
        const raws = await this.command(async () => {
          if (watched.length > 0) await conn.watch(...watched);
          return watched.length === 0 ? [] : conn.mgetBuffer(...watched);
        });
        let values: unknown[];
        try {
          values = watched.map((key, i) => parseRecord(raws[i] ?? null, key));
        } catch (err) {
          throw new PdpError('store_unavailable', describeThrown(err));
        }
        // Outside the breaker: a refusal `build` throws is the caller's answer, not a store failure.
        const tx = build(values);
        const queued = this.prepareWrite(tenant, tx.ops, tx.audit);
        const out = await this.command(() => {
          const multi = conn.multi();
          queued?.fill(multi);
          return multi.exec();
        });
        // EXEC ends the WATCH either way; null means a watched key changed and nothing was applied.
        settled = true;
        if (out === null) continue;
        for (const key of queued?.keys ?? []) this.evict(key);
        return tx.result;
      } finally {
        // A WATCH left behind (build refused, a command failed) would guard the next transaction's
        // write with this one's keys: a connection in an unknown state is replaced.
        if (!settled) this.dropTxConnection();
      }
    }
    throw new PdpError('store_unavailable', 'The records changed concurrently too often; retry');
  }

  /** The transactions' connection, opened when first needed or after a failure, connect bounded. */
  private async txConnection(): Promise<RedisClient> {
    if (this.txConn?.status === 'ready') return this.txConn;
    this.dropTxConnection();
    // Held before it is ready, so that close() during the wait disconnects it too.
    const conn = this.duplicate();
    this.txConn = conn;
    if (await connectWithin(conn, CONNECT_MS)) return conn;
    this.dropTxConnection();
    this.opts.onError?.('write');
    throw new PdpError('store_unavailable', 'The signal store is unavailable');
  }

  private dropTxConnection(): void {
    this.txConn?.disconnect();
    this.txConn = null;
  }

  /** The MULTI of a write: trail entries first, then each key set or deleted, published, indexed. */
  private prepareWrite(
    tenant: string,
    ops: readonly WriteOp[],
    audit?: AuditContext,
  ): { keys: string[]; fill: (multi: ChainableCommander) => void } | null {
    const events = audit === undefined ? [] : eventsOf(tenant, audit);
    if (ops.length === 0 && events.length === 0) return null;
    const keys = ops.map((op) => recordKey(tenant, op.kind, op.id));
    // Serialised before the command: a value that cannot be is the caller's fault, not Redis's.
    const values = ops.map((op) => (op.value === null ? null : serialise(op.value)));
    const trail = events.map((e) => ({ agents: [...new Set(e.agents)], json: serialise(e) }));
    const fill = (multi: ChainableCommander): void => {
      // The trail first, in the same MULTI: the changes and their record are applied together.
      const cap = ['MAXLEN', '~', String(TRAIL_MAX_EVENTS)] as const;
      for (const e of trail) {
        multi.xadd(trailKey(tenant), ...cap, '*', 'e', e.json);
        for (const agent of e.agents) multi.xadd(agentTrailKey(tenant, agent), ...cap, '*', 'e', e.json);
      }
      keys.forEach((key, i) => {
        const value = values[i];
        if (value === null || value === undefined) multi.del(key);
        else multi.set(key, value);
        multi.publish(INVALIDATION_CHANNEL, key);
        const op = ops[i];
        if (op?.kind === 'agent') {
          const agents = indexKey(tenant, AGENTS_INDEX);
          if (op.value === null) multi.srem(agents, op.id);
          else multi.sadd(agents, op.id);
        }
      });
    };
    return { keys, fill };
  }

  async trail(tenant: string, query: TrailQuery): Promise<GovernanceEvent[]> {
    const key = query.agentId === undefined ? trailKey(tenant) : agentTrailKey(tenant, query.agentId);
    // XREVRANGE's end is inclusive: an exclusive "(" bound pages past the cursor.
    const end = query.before === undefined ? '+' : `(${query.before}`;
    const entries = await this.command(() =>
      this.client.xrevrange(key, end, '-', 'COUNT', String(query.limit)),
    );
    const events: GovernanceEvent[] = [];
    for (const [id, fields] of entries) {
      const at = fields.indexOf('e');
      const json = at >= 0 ? fields[at + 1] : undefined;
      if (json === undefined) continue;
      try {
        const parsed = JSON.parse(json) as unknown;
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
          events.push({ ...(parsed as Omit<GovernanceEvent, 'id'>), id });
      } catch {
        // An entry written around the PDP is not a governance event: skip it, keep the rest.
      }
    }
    return events;
  }

  async members(tenant: string, index: string): Promise<string[]> {
    return this.command(() => this.client.smembers(indexKey(tenant, index)));
  }

  async index(tenant: string, index: string, member: string, present: boolean): Promise<void> {
    const key = indexKey(tenant, index);
    await this.command(() => (present ? this.client.sadd(key, member) : this.client.srem(key, member)));
  }

  /** A report, never a store call: /readyz must answer at once even while Redis hangs. */
  health(): Promise<StoreHealth> {
    return Promise.resolve(this.circuit.health());
  }

  async close(): Promise<void> {
    this.circuit.stop();
    this.outageLog.flush();
    this.dropTxConnection();
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  /** Directory reads and writes: through the breaker, failing fast with 503 while it is open. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await this.circuit.run(run);
    } catch (err) {
      this.opts.onError?.('write');
      throw new PdpError('store_unavailable', 'The signal store is unavailable', [], { cause: err });
    }
  }

  private logBreaker(to: BreakerState, from: BreakerState): void {
    const { logger } = this.opts;
    if (from === 'closed' && to === 'open') {
      logger.warn(
        { breaker: to, last_failure: this.circuit.health().last_failure },
        'signal store circuit open: no store calls until a probe succeeds; decisions use cached signals or fail closed',
      );
    } else if (to === 'closed') {
      logger.info({ breaker: to }, 'signal store circuit closed');
    } else {
      logger.debug({ breaker: to, from }, 'signal store circuit state');
    }
  }

  private logReachable(health: StoreHealth, downForMs: number | null): void {
    if (health.reachable) {
      this.outageLog.flush();
      this.opts.logger.info({ down_for_ms: downForMs }, 'signal store reachable again');
    } else {
      this.opts.logger.warn({ last_failure: health.last_failure }, 'signal store unreachable');
    }
  }
}
