import { Router, type Request } from 'express';
import type { CallerAuth } from '../auth/caller-auth';
import type { Validate, Validators } from '../decision/validators';
import { PdpError } from '../errors';
import { PRINCIPAL_ID_PATTERN as ID_PATTERN, TENANT_PATTERN as TENANT_ID_PATTERN } from '../vocabulary';
import type { RecordKind, RecordOf, SignalStore, WriteOp } from '../store/types';
import { stampAgent } from '../governance/lifecycle';
import { actorOf, agentsOf, entraDirectoryRoutes } from './entra-directory';

const TENANT = new RegExp(TENANT_ID_PATTERN);
const ID = new RegExp(ID_PATTERN);

function params(req: Request): { tenant: string; id: string } {
  const tenant = String(req.params['tenant']);
  const id = String(req.params['id']);
  const details = [];
  if (!TENANT.test(tenant))
    details.push({
      pointer: '/tenant',
      message: `path parameter must match ${TENANT_ID_PATTERN}`,
      keyword: 'path',
    });
  if (!ID.test(id))
    details.push({ pointer: '/id', message: `path parameter must match ${ID_PATTERN}`, keyword: 'path' });
  if (details.length > 0) throw new PdpError('invalid_request', 'The request path is invalid', details);
  return { tenant, id };
}

/**
 * Directory records and risk signals (role admin). Writes go to the store, which publishes the
 * key on the invalidation channel so every replica's next decision sees them.
 */
export function directoryRoutes(
  store: SignalStore,
  validators: Validators,
  auth: CallerAuth,
  clock: () => number,
): Router {
  const router = Router();
  const admin = auth.require('admin');

  const resource = (route: string, kind: RecordKind, validate: Validate<Record<string, unknown>>): void => {
    const path = `/v1/tenants/:tenant/${route}`;
    router.put(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const body = validate(req.body);
      const at = clock();
      let record = { ...body, id, updated_at: new Date(at).toISOString() } as Record<string, unknown>;
      if (kind === 'agent' || kind === 'blueprint') record['attributes'] ??= {};
      const old = await store.get(kind, tenant, id);
      if (kind === 'agent') record = stampAgent(record, old, new Date(at).toISOString());
      await store.write(tenant, [{ kind, id, value: record }], {
        actor: actorOf(res),
        at,
        changes: [
          {
            target: { type: kind, id },
            action: old === null ? 'create' : 'update',
            agents: agentsOf(kind, id),
            before: old,
            after: record,
          },
        ],
      });
      res.json(record);
    });
    router.get(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const record = await store.get(kind, tenant, id);
      if (record === null) throw new PdpError('not_found', `No ${kind} record for ${id} in tenant ${tenant}`);
      res.json(record);
    });
    router.delete(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const old = await store.get(kind, tenant, id);
      if (old === null) throw new PdpError('not_found', `No ${kind} record for ${id} in tenant ${tenant}`);
      const ops: WriteOp[] = [{ kind, id, value: null }];
      // A deleted agent's access-package entitlements go with it: an agent created later under the
      // same id does not inherit them.
      if (kind === 'agent') ops.push({ kind: 'grants:agent', id, value: null });
      await store.write(tenant, ops, {
        actor: actorOf(res),
        at: clock(),
        changes: [
          {
            target: { type: kind, id },
            action: 'delete',
            agents: agentsOf(kind, id),
            before: old,
            after: null,
          },
        ],
      });
      res.status(204).end();
    });
  };

  resource('agents/:id', 'agent', validators.agent);
  entraDirectoryRoutes(router, store, validators, admin, params, clock);
  resource('signals/users/:id/risk', 'risk:user', validators.userRisk);

  const revocation = '/v1/tenants/:tenant/signals/agents/:id/revocation';
  // Revocation is an event, not a document: the server stamps revoked_at; tokens issued before it are invalid.
  router.post(revocation, admin, async (req, res) => {
    const { tenant, id } = params(req);
    const { reason } = validators.revocation(req.body ?? {});
    const now = clock();
    const record: RecordOf['revoked:agent'] = {
      revoked_at: new Date(now).toISOString(),
      revoked_at_epoch: Math.floor(now / 1000),
      ...(reason !== undefined && { reason }),
    };
    const old = await store.get('revoked:agent', tenant, id);
    await store.write(tenant, [{ kind: 'revoked:agent', id, value: record }], {
      actor: actorOf(res),
      at: now,
      changes: [
        {
          target: { type: 'revoked:agent', id },
          action: 'revoke',
          agents: [id],
          before: old,
          after: record,
          ...(reason !== undefined && { reason }),
        },
      ],
    });
    res.status(201).json(record);
  });
  router.get(revocation, admin, async (req, res) => {
    const { tenant, id } = params(req);
    const record = await store.get('revoked:agent', tenant, id);
    if (record === null) throw new PdpError('not_found', `Agent ${id} in tenant ${tenant} is not revoked`);
    res.json(record);
  });
  router.delete(revocation, admin, async (req, res) => {
    const { tenant, id } = params(req);
    const old = await store.get('revoked:agent', tenant, id);
    if (old === null) throw new PdpError('not_found', `Agent ${id} in tenant ${tenant} is not revoked`);
    await store.write(tenant, [{ kind: 'revoked:agent', id, value: null }], {
      actor: actorOf(res),
      at: clock(),
      changes: [
        { target: { type: 'revoked:agent', id }, action: 'delete', agents: [id], before: old, after: null },
      ],
    });
    res.status(204).end();
  });

  return router;
}
