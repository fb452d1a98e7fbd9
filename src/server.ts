import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createApp } from './app';
import { PROJECT_ROOT, loadConfig, type Config } from './config';
import { createValidators } from './decision/validators';
import { PolicyEngine } from './engine/policy-engine';
import { PdpError, describeThrown } from './errors';
import { API_SERVER_OPTIONS } from './http/server-options';
import { MemoryStore } from './store/memory-store';
import { RedisStore } from './store/redis-store';
import { seedStore } from './store/seed';
import type { SignalStore } from './store/types';

export const EXAMPLE_DIRECTORY = path.join(PROJECT_ROOT, 'examples/directory.json');

async function createStore(config: Config, logger: Logger): Promise<SignalStore> {
  if (config.redisUrl !== null) {
    return RedisStore.connect(config.redisUrl, {
      cacheTtlMs: config.cacheTtlMs,
      staleIfErrorMs: config.staleIfErrorSeconds * 1000,
      maxEntries: config.cacheMaxEntries,
      clock: Date.now,
      logger,
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

async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  await once(server, 'listening');
}

/** Process entry: the only place that reads the environment's config, listens and exits. */
export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`agent-pdp: invalid configuration: ${describeThrown(err)}\n`);
    process.exit(2);
  }
  const logger = pino({ level: config.logLevel, base: { service: 'agent-pdp', pid: process.pid } });
  const store = await createStore(config, logger);
  const engine = new PolicyEngine({
    bundle: config.bundle,
    dataDir: config.dataDir,
    defaultTtlSeconds: config.defaultTtlSeconds,
    maxTtlSeconds: config.maxTtlSeconds,
    logger,
    clock: Date.now,
  });
  // A missing or bad bundle at start leaves the service up but not ready; the watcher retries.
  await engine.reload().catch((err: unknown) => {
    logger.error(
      { err: describeThrown(err) },
      'no policy bundle active; decisions answer 503 until one loads',
    );
  });
  const stopWatching = engine.watch(config.bundlePollSeconds);

  const { api, admin } = createApp({ config, engine, store, logger });
  const apiServer = createServer(API_SERVER_OPTIONS, api);
  const adminServer = createServer(admin);
  apiServer.keepAliveTimeout = 65_000;
  await listen(apiServer, config.port, config.host);
  await listen(adminServer, config.adminPort, config.host);
  logger.info(
    {
      api: `http://${config.host}:${config.port}`,
      admin: `http://${config.host}:${config.adminPort}`,
      store: store.kind,
    },
    'agent-pdp listening',
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stopWatching();
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    void Promise.allSettled([
      new Promise((resolve) => apiServer.close(resolve)),
      new Promise((resolve) => adminServer.close(resolve)),
    ])
      .then(() => store.close())
      .then(() => process.exit(0));
    apiServer.closeIdleConnections();
    adminServer.closeIdleConnections();
  };
  process.on('SIGTERM', () => {
    shutdown('SIGTERM');
  });
  process.on('SIGINT', () => {
    shutdown('SIGINT');
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `agent-pdp: failed to start: ${err instanceof PdpError ? err.message : describeThrown(err)}\n`,
    );
    process.exit(1);
  });
}
