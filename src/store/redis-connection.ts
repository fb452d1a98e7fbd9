import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { retryStrategy, type BackoffShape } from '../backoff';
import type { Config } from '../config';

/** Either client shape ioredis gives: the store uses only commands both implement. */
export type RedisClient = Redis | Cluster;

export type RedisTopology = Pick<
  Config,
  'redisUrl' | 'redisSentinels' | 'redisSentinelMaster' | 'redisClusterNodes' | 'redisPassword' | 'redisTls'
>;

/**
 * Reconnect delays (ioredis' `retryStrategy`), jittered so replicas that lost Redis together do
 * not reconnect in lockstep; the decision-log stream sink reconnects the same way.
 */
export const RECONNECT_BACKOFF: BackoffShape = { initialMs: 50, maxMs: 2000 };

/** Settings that make a dead Redis fail fast instead of queueing decisions. */
export function failFastOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // The ceiling for directory writes and a stuck reply; decisions have their own, shorter budget.
    commandTimeout: 500,
    connectTimeout: 2000,
    retryStrategy: retryStrategy(RECONNECT_BACKOFF),
    lazyConnect: true,
  };
}

/**
 * Builds a client for the configured topology: standalone (`redis://`, `rediss://` for TLS),
 * Sentinel (the master named REDIS_SENTINEL_MASTER, found through REDIS_SENTINELS) or Cluster
 * (seeded from REDIS_CLUSTER_NODES). `subscriber` clients keep an offline queue so the
 * subscription is re-sent after a reconnect.
 */
export function createRedisClient(topology: RedisTopology, role: 'commands' | 'subscriber'): RedisClient {
  const base: RedisOptions = {
    ...failFastOptions(),
    ...(role === 'subscriber' && { enableOfflineQueue: true }),
  };
  const auth: RedisOptions = {
    ...(topology.redisPassword !== null && { password: topology.redisPassword }),
    ...(topology.redisTls && { tls: {} }),
  };
  if (topology.redisClusterNodes.length > 0) {
    const options: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: role === 'subscriber',
      clusterRetryStrategy: retryStrategy({ ...RECONNECT_BACKOFF, initialMs: 100 }),
      redisOptions: { ...base, ...auth, lazyConnect: false },
    };
    return new Cluster(
      topology.redisClusterNodes.map((n) => ({ host: n.host, port: n.port })),
      options,
    );
  }
  if (topology.redisSentinels.length > 0) {
    return new Redis({
      ...base,
      ...auth,
      sentinels: topology.redisSentinels.map((n) => ({ host: n.host, port: n.port })),
      name: topology.redisSentinelMaster ?? 'mymaster',
      ...(topology.redisPassword !== null && { sentinelPassword: topology.redisPassword }),
    });
  }
  return new Redis(topology.redisUrl ?? 'redis://127.0.0.1:6379', base);
}

/**
 * Connects a new (lazy) client and waits until it is ready, at most `ms`; true when it is. Read
 * from the events, not connect()'s promise: when a Cluster client's first ready check fails after
 * slot discovery, ioredis reconnects and becomes ready on its own but that promise never settles.
 * A refused connection answers false at once (ioredis keeps reconnecting in the background).
 */
export async function connectWithin(client: RedisClient, ms: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const onReady = (): void => {
      done(true);
    };
    const timer = setTimeout(() => {
      done(false);
    }, ms);
    function done(ready: boolean): void {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    }
    client.once('ready', onReady);
    if (client.status === 'wait') {
      client.connect().catch(() => {
        done(client.status === 'ready');
      });
    }
  });
}
