import { Router } from 'express';
import type { CallerAuth } from '../auth/api-keys';
import type { PolicyEngine } from '../engine/policy-engine';
import type { SignalStore } from '../store/types';

/** Health, readiness and the active policy set, served on the admin port. */
export function opsRoutes(engine: PolicyEngine, store: SignalStore, auth: CallerAuth): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const storeHealth = await store.health();
    const ready = engine.ready && storeHealth.reachable;
    res.status(ready ? 200 : 503).json({
      ready,
      revision: engine.current?.revision ?? null,
      store: storeHealth,
    });
  });

  router.get('/v1/policies', auth.require('admin', 'author'), (_req, res) => {
    const active = engine.current;
    const lastError = engine.lastError;
    res.json({
      revision: active?.revision ?? null,
      bundle_revision: active?.bundleRevision ?? null,
      data_revision: active?.dataRevision ?? null,
      loaded_at: active?.loadedAt ?? null,
      entrypoints: active?.policy.entrypoints ?? [],
      // Operators need the full reason a reload was refused: file, policy id, pointer.
      last_reload_error:
        lastError === null
          ? null
          : { code: lastError.code, message: lastError.message, details: lastError.details },
      tenants: Object.fromEntries(
        Object.entries(active?.tenants ?? {}).map(([tenant, data]) => [
          tenant,
          {
            policies: data.policies.map((p) => ({ id: p.id, displayName: p.displayName, state: p.state })),
            named_locations: data.named_locations.map((l) => ({
              id: l.id,
              displayName: l.displayName,
              trusted: l.trusted ?? false,
            })),
          },
        ]),
      ),
    });
  });

  return router;
}
