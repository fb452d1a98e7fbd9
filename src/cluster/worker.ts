import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createAdminApp, createApp } from '../app';
import { PROJECT_ROOT, hasRedis, type Config } from '../config';
import { createValidators } from '../decision/validators';
import { PolicyEngine } from '../engine/policy-engine';
import { guardServer } from '../http/server-guards';
import { API_SERVER_OPTIONS } from '../http/server-options';
import { adminServer, tlsOptions } from '../http/tls';
import { Metrics } from '../metrics';
import { localStatus } from '../ops/backend';
import { DecisionLog, createSink, parseDecisionLogSpec } from '../audit';
import { callerAuthFromConfig } from '../auth/caller-auth';
import { decisionLogHook } from '../decision/observer';
import { createRedisClient } from '../store/redis-connection';
import cluster from 'node:cluster';
import { Redis } from 'ioredis';
import { MemoryStore } from '../store/memory-store';
import { RedisStore } from '../store/redis-store';
import { seedStore } from '../store/seed';
import type { SignalStore } from '../store/types';
import { describeThrown } from '../errors';
import { isPrimaryMessage, sendToPrimary } from './ipc';

export const EXAMPLE_DIRECTORY = path.join(PROJECT_ROOT, 'examples/directory.json');

async function createStore(config: Config, logger: Logger, metrics: Metrics): Promise<SignalStore> {
  if (hasRedis(config)) {
    const store = await RedisStore.connect(config, {
      cacheTtlMs: config.cacheTtlMs,
      staleIfErrorMs: config.staleIfErrorSeconds * 1000,
      maxEntries: config.cacheMaxEntries,
      clock: Date.now,
      logger,
      readBudgetMs: config.storeTimeoutMs,
      breaker: {
        threshold: config.storeBreakerThreshold,
        halfOpenMs: config.storeBreakerHalfOpenMs,
        halfOpenMaxMs: config.storeBreakerHalfOpenMaxMs,
      },
      onCacheLookup: (hits, misses) => {
        if (hits > 0) metrics.cacheLookups.inc({ result: 'hit' }, hits);
        if (misses > 0) metrics.cacheLookups.inc({ result: 'miss' }, misses);
      },
      onError: (operation) => {
        metrics.storeErrors.inc({ operation });
      },
      onFallback: (result, cause) => {
        metrics.storeReadFallbacks.inc({ result, cause });
      },
      onHealth: (health) => {
        metrics.setStoreState(health.reachable, health.breaker ?? 'closed');
      },
      onBreakerTransition: (state) => {
        metrics.storeBreakerTransitions.inc({ state });
      },
    });
    const health = await store.health();
    metrics.setStoreState(health.reachable, health.breaker ?? 'closed');
    return store;
  }
  logger.warn(
    'REDIS_URL is not set: using the IN-MEMORY store seeded with the example directory. ' +
      'Directory writes are lost on restart and not shared between processes. Do not run this in production.',
  );
  const store = new MemoryStore();
  const count = await seedStore(store, EXAMPLE_DIRECTORY, createValidators(), Date.now());
  logger.info({ records: count, file: EXAMPLE_DIRECTORY }, 'example directory loaded');
  return store;
}

function apiServer(config: Config, handler: ReturnType<typeof createApp>['api']): Server {
  const guards = { bodyLimitBytes: config.bodyLimitBytes };
  const tls = tlsOptions(config, 'api');
  if (tls === null) return guardServer(createHttpServer(API_SERVER_OPTIONS, handler), guards);
  return guardServer(createHttpsServer({ ...API_SERVER_OPTIONS, ...tls }, handler), guards);
}

/**
 * One decision log per process. In a cluster, a file sink gets the worker id appended so two
 * processes never rotate the same file; a Redis stream gets its own connection with an offline
 * queue, since the store's client fails fast by design.
 */
function createDecisionLog(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  clustered: boolean,
): DecisionLog {
  const spec = parseDecisionLogSpec(config.decisionLog);
  const workerId = cluster.worker?.id;
  let redis: Redis | undefined;
  if (spec.kind === 'redis-stream') {
    if (config.redisClusterNodes.length > 0) {
      throw new Error('PDP_DECISION_LOG=redis-stream needs REDIS_URL or Redis Sentinel, not Redis Cluster');
    }
    if (!hasRedis(config))
      throw new Error('PDP_DECISION_LOG=redis-stream needs a Redis (REDIS_URL or REDIS_SENTINELS)');
    redis = createRedisClient(config, 'subscriber') as Redis;
  }
  const sink = createSink(
    spec.kind === 'file' && clustered && workerId !== undefined
      ? { kind: 'file', path: `${spec.path}.${workerId}` }
      : spec,
    redis === undefined ? {} : { redis },
  );
  return new DecisionLog({
    sink,
    logger,
    maxBuffered: config.decisionLogBuffer,
    mask: config.decisionLogMask,
    labels: {
      service: 'agent-pdp',
      pid: String(process.pid),
      ...(workerId !== undefined && { worker: String(workerId) }),
    },
    onWritten: (n) => {
      metrics.decisionLogRecords.inc({ outcome: 'written' }, n);
    },
    onDropped: (n) => {
      metrics.decisionLogRecords.inc({ outcome: 'dropped' }, n);
    },
  });
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  await once(server, 'listening');
}

/**
 * One serving process: store, engine, apps, listeners, graceful shutdown. Standalone it also
 * serves the admin port; as a cluster worker it answers the primary's status/metrics requests.
 */
export async function runWorker(config: Config, opts: { clustered: boolean }): Promise<void> {
  const labels = opts.clustered ? { worker: String(process.pid) } : {};
  const logger = pino({ level: config.logLevel, base: { service: 'agent-pdp', pid: process.pid } });
  const metrics = new Metrics();
  const store = await createStore(config, logger, metrics);
  const engine = new PolicyEngine({
    bundle: config.bundle,
    dataDir: config.dataDir,
    defaultTtlSeconds: config.defaultTtlSeconds,
    maxTtlSeconds: config.maxTtlSeconds,
    logger,
    clock: Date.now,
    verifyKey: config.bundleVerifyKey,
    onLoad: (outcome) => {
      metrics.bundleLoads.inc({ outcome });
    },
  });
  engine.onSwap((r) => {
    metrics.setRevision(r.revision);
  });
  // A missing or bad bundle at start leaves the service up but not ready; the watcher retries.
  await engine.reload().catch((err: unknown) => {
    logger.error({ err: String(err) }, 'no policy bundle active; decisions answer 503 until one loads');
  });
  const stopWatching = engine.watch(config.bundlePollSeconds, config.dataPollSeconds);

  let draining = false;
  const auth = callerAuthFromConfig(config);
  const decisionLog = createDecisionLog(config, logger, metrics, opts.clustered);
  const { api } = createApp({
    config,
    engine,
    store,
    logger,
    metrics,
    auth,
    log: decisionLogHook(decisionLog),
  });
  const server = apiServer(config, api);
  server.keepAliveTimeout = 65_000;
  await listen(server, config.port, config.host);

  let admin: Server | null = null;
  if (!opts.clustered) {
    admin = adminServer(
      config,
      createAdminApp(
        {
          statuses: async () => [await localStatus(engine, store, () => draining)],
          metrics: async () => ({
            contentType: metrics.registry.contentType,
            body: await metrics.registry.metrics(),
          }),
        },
        auth,
        logger,
      ),
    );
    guardServer(admin, { bodyLimitBytes: config.bodyLimitBytes });
    await listen(admin, config.adminPort, config.host);
  }
  logger.info(
    {
      api: `${config.tlsCert === null ? 'http' : 'https'}://${config.host}:${config.port}`,
      store: store.kind,
      ...labels,
    },
    opts.clustered ? 'agent-pdp worker listening' : 'agent-pdp listening',
  );
  if (['0.0.0.0', '[::]'].includes(new URL(config.publicBaseUrl).hostname)) {
    logger.warn(
      { public_base_url: config.publicBaseUrl },
      'PDP_PUBLIC_BASE_URL is not set and PDP_HOST is a wildcard: the AuthZEN metadata names an address clients cannot use',
    );
  }

  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Readiness goes false first, so load balancers stop sending before the listener closes.
    draining = true;
    logger.info({ reason, delay_ms: config.shutdownDelayMs }, 'draining');
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline passed; exiting with requests still open');
      process.exit(1);
    }, config.shutdownDelayMs + config.shutdownTimeoutMs);
    deadline.unref();
    stopWatching();
    await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
    const closed = [server, admin]
      .filter((s): s is Server => s !== null)
      .map(async (s) => {
        const done = once(s, 'close');
        s.close();
        s.closeIdleConnections();
        await done;
      });
    await Promise.all(closed);
    // Everything accepted is written before exit; what cannot be is counted and warned about.
    await decisionLog.close(Math.max(1000, config.shutdownTimeoutMs / 2));
    await store.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (opts.clustered) {
    process.on('message', (message: unknown) => {
      if (!isPrimaryMessage(message)) return;
      if (message.type === 'pdp:shutdown') {
        void shutdown('primary');
        return;
      }
      const reply = async (): Promise<unknown> =>
        message.type === 'pdp:status'
          ? localStatus(engine, store, () => draining)
          : metrics.registry.getMetricsAsJSON();
      void reply().then(
        (payload) => {
          sendToPrimary({ type: 'pdp:reply', id: message.id, payload });
        },
        (err: unknown) => {
          sendToPrimary({ type: 'pdp:reply', id: message.id, error: describeThrown(err) });
        },
      );
    });
    sendToPrimary({ type: 'pdp:listening' });
  }
}
