import { Router } from 'express';
import type { CallerAuth } from '../auth/caller-auth';
import type { OpsBackend, WorkerStatus } from '../ops/backend';
import type { StoreHealth } from '../store/types';

/** The store as /readyz shows it: a worker's report that says the store is down, else the first. */
function storeDetail(workers: readonly WorkerStatus[]): StoreHealth | null {
  return (
    workers.find((w) => w.store.breaker !== undefined && !w.store.reachable)?.store ??
    workers[0]?.store ??
    null
  );
}

/**
 * Health, readiness, metrics and the active policy set, served on the admin port. In cluster
 * mode the backend asks every worker: ready means every live worker is ready (a bundle active, not
 * draining), and each worker's revision is listed so a rollout in progress is visible. The
 * store's state is detail, not readiness: decisions answer through a store outage.
 */
export function opsRoutes(backend: OpsBackend, auth: CallerAuth): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const workers = await backend.statuses();
    const ready = workers.length > 0 && workers.every((w) => w.ready);
    res.status(ready ? 200 : 503).json({
      ready,
      revision: workers[0]?.revision ?? null,
      store: storeDetail(workers),
      // Detail, not readiness: the last good data keeps deciding while Graph is away.
      graph: workers.find((w) => w.graph !== undefined && w.graph !== null)?.graph ?? null,
      workers: workers.map((w) => ({
        pid: w.pid,
        ready: w.ready,
        draining: w.draining,
        revision: w.revision,
        store: w.store,
      })),
    });
  });

  router.get('/metrics', async (_req, res) => {
    const { contentType, body } = await backend.metrics();
    res.setHeader('content-type', contentType);
    res.send(body);
  });

  router.get('/v1/policies', auth.require('admin', 'author'), async (_req, res) => {
    const workers = await backend.statuses();
    // A worker that could not answer (dying, starting) has no view: list the first one that has.
    const first = workers.find((w) => w.policies !== null);
    res.json({
      ...(first?.policies ?? {}),
      workers: workers.map((w) => ({ pid: w.pid, revision: w.revision })),
    });
  });

  return router;
}
