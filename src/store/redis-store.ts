import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { PdpError, describeThrown } from '../errors';
import { JsonDocumentError, MAX_JSON_DEPTH, parseJsonBytes } from '../strict-json';
import { INVALIDATION_CHANNEL, recordKey } from './keys';
import { serialise } from './serialise';
import { createRedisClient, type RedisClient, type RedisTopology } from './redis-connection';
import { UNAVAILABLE, assemble, planQuery } from './snapshot';
import type { RecordKind, RecordOf, SignalSnapshot, SignalStore, SignalsQuery, StoreHealth } from './types';

export interface RedisStoreOptions {
  /** Fresh for this long; after it a value is re-read (invalidation usually evicts it sooner). */
  cacheTtlMs: number;
  /** When Redis fails, a value is still served (marked degraded) this long after it went stale, as HTTP's stale-if-error. */
  staleIfErrorMs: number;
  maxEntries: number;
  clock: () => number;
  logger: Logger;
  /** Metrics hooks: cache hits and misses per read, failed operations. */
  onCacheLookup?: (hits: number, misses: number) => void;
  onError?: (operation: 'read' | 'write') => void;
}

interface Entry {
  value: unknown;
  fetchedAt: number;
}

/** Corrupt JSON in Redis (a writer bypassing the API) must not become an allow. */
class CorruptValue extends Error {}

/** Twice the largest body the API accepts (PDP_BODY_LIMIT_BYTES ≤ 16 MiB): anything larger came around it. */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/**
 * A stored record, read as bytes so that invalid UTF-8 is refused instead of becoming U+FFFD, and
 * parsed strictly (src/strict-json.ts). Every record is a JSON object: anything else was not
 * written by the API, and is corrupt rather than "no record".
 */
function parse(raw: Buffer | null, key: string): unknown {
  if (raw === null) return null;
  let value: unknown;
  try {
    value = parseJsonBytes(raw, { maxBytes: MAX_RECORD_BYTES, maxDepth: MAX_JSON_DEPTH });
  } catch (err) {
    if (!(err instanceof JsonDocumentError)) throw err;
    throw new CorruptValue(`value at ${key}${err.pointer === '' ? '' : ` ${err.pointer}`} ${err.message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptValue(`value at ${key} is not a JSON object`);
  }
  return value;
}

/**
 * Redis-backed signals with a bounded LRU in front. One MGET per decision on a cold cache;
 * every write publishes its key on `pdp:invalidate` and every replica evicts it.
 */
export class RedisStore implements SignalStore {
  readonly kind = 'redis' as const;
  private readonly cache: LRUCache<string, Entry>;
  /** Bumped on each eviction so a read in flight across an invalidation does not re-cache old data. */
  private generation = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly opts: RedisStoreOptions,
  ) {
    this.cache = new LRUCache<string, Entry>({ max: opts.maxEntries });
    subscriber.on('message', (_channel: string, key: string) => {
      this.evict(key);
    });
    // Messages published while the subscription was down are lost: start from a clean cache.
    subscriber.on('ready', () => {
      this.generation++;
      this.cache.clear();
    });
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
    for (const c of [client, subscriber]) {
      c.on('error', (err: Error) => {
        opts.logger.warn({ err: err.message }, 'redis connection error');
      });
    }
    const store = new RedisStore(client, subscriber, opts);
    // Start even when Redis is down: /readyz reports it and decisions fail closed until it returns.
    // Bounded: a Cluster client can stay in its initial slot discovery for a while, and start-up
    // must not hang on it; the subscription is re-sent by ioredis whenever the client reconnects.
    const startup = Promise.allSettled([client.connect(), subscriber.connect()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([startup, new Promise((resolve) => (timer = setTimeout(resolve, 3000)))]);
    clearTimeout(timer);
    subscriber.subscribe(INVALIDATION_CHANNEL).catch((err: unknown) => {
      opts.logger.warn({ err: describeThrown(err) }, 'redis subscribe deferred until reconnect');
    });
    return store;
  }

  evict(key: string): void {
    this.generation++;
    this.cache.delete(key);
  }

  async readSignals(q: SignalsQuery): Promise<SignalSnapshot> {
    const plan = planQuery(q);
    const keys = plan.kinds.map((kind, i) => recordKey(q.tenant, kind, plan.ids[i] ?? ''));
    let degraded = false;
    try {
      const values = await this.readMany(keys);
      degraded = values.degraded;
      const agent = values.values[0] as RecordOf['agent'] | null;
      let blueprint: RecordOf['blueprint'] | null = null;
      if (agent !== null && typeof agent.blueprint_id === 'string') {
        if (plan.blueprintIndex >= 0 && q.blueprintHint === agent.blueprint_id) {
          blueprint = values.values[plan.blueprintIndex] as RecordOf['blueprint'] | null;
        } else {
          // Blueprints are few and shared: this second read is almost always a cache hit.
          const bp = await this.readMany([recordKey(q.tenant, 'blueprint', agent.blueprint_id)]);
          degraded ||= bp.degraded;
          blueprint = bp.values[0] as RecordOf['blueprint'] | null;
        }
      }
      return assemble(plan, values.values, blueprint, degraded);
    } catch (err) {
      this.opts.logger.error({ err: describeThrown(err), tenant: q.tenant }, 'signals unavailable');
      return UNAVAILABLE;
    }
  }

  /** Reads keys through the cache; throws when a key is neither fresh, fetchable nor stale-usable. */
  private async readMany(keys: string[]): Promise<{ values: unknown[]; degraded: boolean }> {
    const now = this.opts.clock();
    const values: unknown[] = new Array<unknown>(keys.length);
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const entry = this.cache.get(keys[i] ?? '');
      if (entry !== undefined && now - entry.fetchedAt < this.opts.cacheTtlMs) values[i] = entry.value;
      else missing.push(i);
    }
    this.opts.onCacheLookup?.(keys.length - missing.length, missing.length);
    if (missing.length === 0) return { values, degraded: false };

    const generation = this.generation;
    const missingKeys = missing.map((i) => keys[i] ?? '');
    let raw: (Buffer | null)[];
    try {
      raw = await this.client.mgetBuffer(missingKeys);
    } catch (err) {
      this.opts.onError?.('read');
      this.opts.logger.warn({ err: describeThrown(err) }, 'redis read failed; trying stale cache');
      for (const i of missing) {
        const entry = this.cache.get(keys[i] ?? '');
        if (entry === undefined || now - entry.fetchedAt >= this.opts.cacheTtlMs + this.opts.staleIfErrorMs)
          throw err;
        values[i] = entry.value;
      }
      return { values, degraded: true };
    }
    const fetchedAt = this.opts.clock();
    for (let j = 0; j < missing.length; j++) {
      const i = missing[j] ?? 0;
      const key = missingKeys[j] ?? '';
      const value = parse(raw[j] ?? null, key);
      values[i] = value;
      if (generation === this.generation) this.cache.set(key, { value, fetchedAt });
    }
    return { values, degraded: false };
  }

  async get<K extends RecordKind>(kind: K, tenant: string, id: string): Promise<RecordOf[K] | null> {
    const key = recordKey(tenant, kind, id);
    const raw = await this.command(() => this.client.getBuffer(key));
    try {
      return parse(raw, key) as RecordOf[K] | null;
    } catch (err) {
      throw new PdpError('store_unavailable', describeThrown(err));
    }
  }

  async put<K extends RecordKind>(kind: K, tenant: string, id: string, value: RecordOf[K]): Promise<void> {
    const key = recordKey(tenant, kind, id);
    // Serialised before the command: a value that cannot be is the caller's fault, not Redis's.
    const json = serialise(value);
    await this.command(() => this.client.multi().set(key, json).publish(INVALIDATION_CHANNEL, key).exec());
    this.evict(key);
  }

  async delete(kind: RecordKind, tenant: string, id: string): Promise<boolean> {
    const key = recordKey(tenant, kind, id);
    const result = await this.command(() =>
      this.client.multi().del(key).publish(INVALIDATION_CHANNEL, key).exec(),
    );
    this.evict(key);
    const deleted = result?.[0]?.[1];
    return typeof deleted === 'number' && deleted > 0;
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.client.ping();
      return { reachable: true, kind: this.kind };
    } catch {
      return { reachable: false, kind: this.kind };
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      this.opts.onError?.('write');
      throw new PdpError('store_unavailable', 'The signal store is unavailable', [], { cause: err });
    }
  }
}
