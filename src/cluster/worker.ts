import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createAdminApp, createApp } from '../app';
import { PROJECT_ROOT, hasRedis, type Config } from '../config';
import { createValidators } from '../decision/validators';
import { PolicyEngine } from '../engine/policy-engine';
import { API_SERVER_OPTIONS } from '../http/server-options';
import { Metrics } from '../metrics';
import { localStatus } from '../ops/backend';
import { createCallerAuth } from '../auth/caller-auth';
import { MemoryStore } from '../store/memory-store';
import { RedisStore } from '../store/redis-store';
import { seedStore } from '../store/seed';
import type { SignalStore } from '../store/types';
import { isPrimaryMessage, type WorkerMessage } from './ipc';

export const EXAMPLE_DIRECTORY = path.join(PROJECT_ROOT, 'examples/directory.json');

async function createStore(config: Config, logger: Logger, metrics: Metrics): Promise<SignalStore> {
  if (hasRedis(config)) {
    return RedisStore.connect(config, {
      cacheTtlMs: config.cacheTtlMs,
      staleIfErrorMs: config.staleIfErrorSeconds * 1000,
      maxEntries: config.cacheMaxEntries,
      clock: Date.now,
      logger,
      onCacheLookup: (hits, misses) => {
        if (hits > 0) metrics.cacheLookups.inc({ result: 'hit' }, hits);
        if (misses > 0) metrics.cacheLookups.inc({ result: 'miss' }, misses);
      },
      onError: (operation) => {
        metrics.storeErrors.inc({ operation });
      },
    });
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
  if (config.tlsCert === null || config.tlsKey === null) return createHttpServer(API_SERVER_OPTIONS, handler);
  return createHttpsServer(
    {
      ...API_SERVER_OPTIONS,
      cert: config.tlsCert,
      key: config.tlsKey,
      ...(config.tlsClientCa !== null && {
        ca: config.tlsClientCa,
        requestCert: true,
        rejectUnauthorized: true,
      }),
    },
    handler,
  );
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
  });
  engine.onSwap((r) => {
    metrics.setRevision(r.revision);
  });
  // A missing or bad bundle at start leaves the service up but not ready; the watcher retries.
  await engine.reload().then(
    () => { metrics.bundleLoads.inc({ outcome: 'success' }); },
    (err: unknown) => {
      metrics.bundleLoads.inc({ outcome: 'failure' });
      logger.error({ err: String(err) }, 'no policy bundle active; decisions answer 503 until one loads');
    },
  );
  const stopWatching = engine.watch(config.bundlePollSeconds);

  let draining = false;
  const auth = createCallerAuth({
    apiKeys: config.apiKeys,
    jwt:
      config.callerIssuer !== null && config.callerJwksUrl !== null && config.callerAudience !== null
        ? {
            issuer: config.callerIssuer,
            jwksUrl: config.callerJwksUrl,
            audience: config.callerAudience,
            rolesClaim: config.callerRolesClaim,
          }
        : null,
    mtls: config.tlsClientCa !== null,
  });
  const { api } = createApp({ config, engine, store, logger, metrics, auth });
  const server = apiServer(config, api);
  server.keepAliveTimeout = 65_000;
  await listen(server, config.port, config.host);

  let admin: Server | null = null;
  if (!opts.clustered) {
    admin = createHttpServer(
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
      void reply().then((payload) =>
        process.send?.({ type: 'pdp:reply', id: message.id, payload } satisfies WorkerMessage),
      );
    });
    process.send?.({ type: 'pdp:listening' } satisfies WorkerMessage);
  }
}
