import { Router } from 'express';
import type { CallerAuth } from '../auth/caller-auth';
import { PdpError, type ErrorDetail } from '../errors';
import { DEFAULT_LIFECYCLE_POLICIES, sponsorsOf } from '../governance/lifecycle';
import { createAjv, toDetails } from '../schemas/ajv';
import { lifecyclePoliciesSchema } from '../schemas/lifecycle';
import { LIFECYCLE_ID } from '../store/snapshot';
import type { LifecyclePolicy, LifecycleRecord, SignalStore } from '../store/types';
import { callerOf, pathOf } from './access-packages';

/**
 * Lifecycle policies per tenant (role admin) and sponsors' reconfirmation. Every change is in the
 * governance trail. Without a record the tenant has DEFAULT_LIFECYCLE_POLICIES.
 */
export function lifecycleRoutes(store: SignalStore, auth: CallerAuth, clock: () => number): Router {
  const router = Router();
  const admin = auth.require('admin');
  const validate = createAjv().compile<{ policies: LifecyclePolicy[] }>(lifecyclePoliciesSchema);
  const path = '/v1/tenants/:tenant/lifecycle-policies';

  router.get(path, admin, async (req, res) => {
    const { tenant } = pathOf(req);
    const record = await store.get('lifecycle', tenant, LIFECYCLE_ID);
    res.json(record ?? { policies: DEFAULT_LIFECYCLE_POLICIES, default: true });
  });

  router.put(path, admin, async (req, res) => {
    const { tenant } = pathOf(req);
    const body: unknown = req.body;
    if (!validate(body))
      throw new PdpError('invalid_request', 'The request body is invalid', toDetails(validate.errors));
    const { policies } = body;
    const details: ErrorDetail[] = [];
    policies.forEach((p, i) => {
      if (policies.findIndex((q) => q.kind === p.kind) !== i)
        details.push({
          pointer: `/policies/${i}/kind`,
          message: 'one policy of each kind',
          keyword: 'unique',
        });
    });
    if (details.length > 0) throw new PdpError('invalid_request', 'The request body is invalid', details);
    const at = clock();
    const record: LifecycleRecord = { policies, updated_at: new Date(at).toISOString() };
    const old = await store.get('lifecycle', tenant, LIFECYCLE_ID);
    await store.write(tenant, [{ kind: 'lifecycle', id: LIFECYCLE_ID, value: record }], {
      actor: callerOf(res).name,
      at,
      changes: [
        {
          target: { type: 'lifecycle-policy', id: LIFECYCLE_ID },
          action: old === null ? 'create' : 'update',
          agents: [],
          before: old,
          after: record,
        },
      ],
    });
    res.json(record);
  });

  router.delete(path, admin, async (req, res) => {
    const { tenant } = pathOf(req);
    const old = await store.get('lifecycle', tenant, LIFECYCLE_ID);
    if (old === null) throw new PdpError('not_found', `Tenant ${tenant} has the default lifecycle policies`);
    await store.write(tenant, [{ kind: 'lifecycle', id: LIFECYCLE_ID, value: null }], {
      actor: callerOf(res).name,
      at: clock(),
      changes: [
        {
          target: { type: 'lifecycle-policy', id: LIFECYCLE_ID },
          action: 'delete',
          agents: [],
          before: old,
          after: null,
        },
      ],
    });
    res.status(204).end();
  });

  // A sponsor (or an admin) confirms the agent's sponsorship: sponsorReconfirmation counts from it.
  router.post(
    '/v1/tenants/:tenant/agents/:id/sponsors/confirm',
    auth.require('admin', 'decide'),
    async (req, res) => {
      const { tenant, ids } = pathOf(req, 'id');
      const id = ids[0] ?? '';
      const caller = callerOf(res);
      const agent = await store.get('agent', tenant, id);
      if (agent === null) throw new PdpError('not_found', `No agent record for ${id} in tenant ${tenant}`);
      if (!caller.admin && !sponsorsOf(agent).includes(caller.name))
        throw new PdpError('not_a_sponsor', `${caller.name} is not a sponsor of agent ${id}`);
      const at = clock();
      const after = { ...agent, sponsors_confirmed_at: new Date(at).toISOString() };
      await store.write(tenant, [{ kind: 'agent', id, value: after }], {
        actor: caller.name,
        at,
        changes: [
          { target: { type: 'agent', id }, action: 'confirmSponsors', agents: [id], before: agent, after },
        ],
      });
      res.json(after);
    },
  );
  return router;
}
