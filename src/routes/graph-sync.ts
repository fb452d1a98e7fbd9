import { Router } from 'express';
import type { CallerAuth } from '../auth/caller-auth';
import { PdpError } from '../errors';
import type { GraphSyncControl } from '../graph/worker';

/**
 * The Graph sync's state and trigger (role admin), answered by any replica from the state in
 * Redis: `GET /v1/graph/sync`, and `POST /v1/graph/sync` with `{"full": true|false}` (optional),
 * which the replica holding the lease picks up within a second (202).
 */
export function graphSyncRoutes(control: GraphSyncControl | null, auth: CallerAuth): Router {
  const router = Router();
  const admin = auth.require('admin');
  const enabled = (): GraphSyncControl => {
    if (control === null)
      throw new PdpError('not_found', 'The Microsoft Graph sync is not configured (PDP_GRAPH_TENANT_ID)');
    return control;
  };
  router.get('/v1/graph/sync', admin, async (_req, res) => {
    res.json(await enabled().state());
  });
  router.post('/v1/graph/sync', admin, async (req, res) => {
    const c = enabled();
    const body: unknown = req.body ?? {};
    const full =
      typeof body === 'object' && body !== null && Object.hasOwn(body, 'full')
        ? (body as { full: unknown }).full
        : false;
    if (
      typeof full !== 'boolean' ||
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      Object.keys(body).some((k) => k !== 'full')
    ) {
      throw new PdpError('invalid_request', 'The request body is invalid', [
        { pointer: '/full', message: 'the body is {"full": boolean} (optional)', keyword: 'type' },
      ]);
    }
    await c.request(full ? 'full' : 'incremental');
    res.status(202).json({ requested: full ? 'full' : 'incremental', state: await c.state() });
  });
  return router;
}
