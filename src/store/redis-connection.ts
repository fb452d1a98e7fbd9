import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config';

/** Either client shape ioredis gives: the store uses only commands both implement. */
export type RedisClient = Redis | Cluster;

export type RedisTopology = Pick<
  Config,
  'redisUrl' | 'redisSentinels' | 'redisSentinelMaster' | 'redisClusterNodes' | 'redisPassword' | 'redisTls'
>;

/** Settings that make a dead Redis fail fast instead of queueing decisions. */
export function failFastOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
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
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
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
