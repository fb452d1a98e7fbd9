import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { createAdminApp } from '../app';
import { backoffDelay, type BackoffShape } from '../backoff';
import type { Config } from '../config';
import { guardServer } from '../http/server-guards';
import { adminServer } from '../http/tls';
import type { OpsBackend, WorkerStatus } from '../ops/backend';
import { buildAdminServices } from '../services';
import { ask, sendTo } from './ipc';

const ASK_TIMEOUT_MS = 1000;
/** Restart delays of a crash-looping worker: 0.5 s, 1 s, 2 s … 30 s, no jitter (one primary). */
const CRASH_LOOP_BACKOFF: BackoffShape = { initialMs: 500, maxMs: 30_000, jitter: 0 };
/** A worker that dies sooner than this after its start counts towards crash-loop backoff. */
const EARLY_EXIT_MS = 5000;

/**
 * The cluster primary: forks PDP_WORKERS workers, restarts any that die, serves the admin port
 * from what the workers report (metrics aggregated across them), and drains them on SIGTERM.
 */
export async function runPrimary(config: Config): Promise<void> {
  const services = buildAdminServices(config);
  const { logger } = services;
  const registry = new Registry();
  const restarts = new Counter({
    name: 'pdp_worker_restarts_total',
    help: 'Workers restarted after an unexpected exit.',
    registers: [registry],
  });
  const live = new Gauge({ name: 'pdp_workers', help: 'Live worker processes.', registers: [registry] });
  let shuttingDown = false;
  let quickDeaths = 0;
  const startedAt = new Map<number, number>();

  const fork = (): void => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
    // A dying worker's channel can still report an error; unheard, it would end the primary.
    worker.on('error', (err: Error) => {
      logger.warn({ worker: worker.process.pid, err: err.message }, 'worker IPC error');
    });
  };
  cluster.on('online', () => {
    live.set(Object.keys(cluster.workers ?? {}).length);
  });
  cluster.on('exit', (worker, code, signal) => {
    live.set(Object.keys(cluster.workers ?? {}).length);
    if (shuttingDown) return;
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    quickDeaths = lived < EARLY_EXIT_MS ? quickDeaths + 1 : 0;
    // Back off on a crash loop (bad config reaching a worker), restart at once otherwise.
    const delay = quickDeaths === 0 ? 0 : backoffDelay(CRASH_LOOP_BACKOFF, quickDeaths);
    logger.error(
      { worker: worker.process.pid, code, signal, restart_in_ms: delay },
      'worker exited; restarting',
    );
    restarts.inc();
    setTimeout(fork, delay).unref();
  });
  for (let i = 0; i < config.workers; i++) fork();

  const workers = (): Worker[] =>
    Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  const backend: OpsBackend = {
    statuses: async () =>
      Promise.all(
        workers().map(async (w): Promise<WorkerStatus> => {
          try {
            const s = (await ask(w, 'pdp:status', ASK_TIMEOUT_MS)) as WorkerStatus;
            return { ...s, ready: s.ready && !shuttingDown, draining: s.draining || shuttingDown };
          } catch {
            // A worker that cannot answer (starting, hung, dying) counts as not ready.
            return {
              pid: w.process.pid ?? 0,
              ready: false,
              draining: shuttingDown,
              revision: null,
              store: { reachable: false, kind: 'redis' },
              policies: null,
            };
          }
        }),
      ),
    metrics: async () => {
      const perWorker = await Promise.all(
        workers().map((w) => ask(w, 'pdp:metrics', ASK_TIMEOUT_MS).catch(() => [])),
      );
      const merged = AggregatorRegistry.aggregate([
        ...(perWorker as object[][]),
        await registry.getMetricsAsJSON(),
      ] as object[]);
      return { contentType: merged.contentType, body: await merged.metrics() };
    },
  };
  // The same caller authentication and TLS as a standalone process's admin port.
  const admin = guardServer(adminServer(config, createAdminApp(services, backend)), {
    bodyLimitBytes: config.bodyLimitBytes,
  });
  admin.listen(config.adminPort, config.host);
  await once(admin, 'listening');
  logger.info(
    {
      admin: `${config.tlsCert === null ? 'http' : 'https'}://${config.host}:${config.adminPort}`,
      workers: config.workers,
    },
    'agent-pdp primary ready',
  );

  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'draining workers');
    for (const w of workers()) void sendTo(w, { type: 'pdp:shutdown' });
    const deadline = setTimeout(
      () => {
        logger.error('workers did not stop in time; killing them');
        for (const w of workers()) w.process.kill('SIGKILL');
        process.exit(1);
      },
      config.shutdownDelayMs + config.shutdownTimeoutMs + 2000,
    );
    deadline.unref();
    const check = setInterval(() => {
      if (workers().length > 0) return;
      clearInterval(check);
      admin.close();
      process.exit(0);
    }, 50);
  };
  process.on('SIGTERM', () => {
    shutdown('SIGTERM');
  });
  process.on('SIGINT', () => {
    shutdown('SIGINT');
  });
}
