import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { ApiKeyEntry } from '../../src/config';
import type { GovernanceEvent } from '../../src/governance/trail';
import { INVALIDATION_CHANNEL, recordKey } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory-store';
import { SHARED_GRANTS_ID } from '../../src/store/snapshot';
import type { Role } from '../../src/vocabulary';
import { TestClock, makeApp, redisStore, type TestApp } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const TENANT = 'acc';
const T = `/v1/tenants/${TENANT}`;
const HOUR = 3600;
const keyOf = (name: string): string => `key-${name}-0123456789`;
const entry = (name: string, roles: Role[]): ApiKeyEntry => ({
  name,
  roles,
  sha256: createHash('sha256').update(keyOf(name)).digest('hex'),
});
/** Admins alice and bob; sponsor, approver, bystander and the agent itself with role decide. */
const KEYS = [
  entry('alice', ['admin']),
  entry('bob', ['admin']),
  entry('u-sponsor', ['decide']),
  entry('u-approver', ['decide']),
  entry('u-other', ['decide']),
  entry('agt-acc', ['decide']),
  entry('constructor', ['decide']),
  entry('pdp', ['decide']),
];

const BLUEPRINT = { enabled: true, permissions: { 'api://invoices': ['invoices.read'] } };
const AGENT = { blueprint_id: 'bp-acc', enabled: true, sponsors: ['u-sponsor'] };
const PAYMENTS = {
  display_name: 'Payments writers',
  resources: { 'api://payments': ['payments.write'] },
  max_duration_seconds: 4 * HOUR,
  requestors: ['sponsor', 'agent'],
  approvers: { sponsors: false, users: ['u-approver'] },
  justification_required: true,
};

interface Page {
  value: GovernanceEvent[];
}
interface Decision {
  decision: string;
  grant: { scopes: string[]; ttl_seconds: number } | null;
  reasons: { code: string; message: string; policy_id: string | null }[];
}

function as(t: TestApp, who: string) {
  const key = keyOf(who);
  return {
    put: (path: string, body: object) => request(t.api).put(path).set('x-api-key', key).send(body),
    post: (path: string, body: object = {}) => request(t.api).post(path).set('x-api-key', key).send(body),
    del: (path: string) => request(t.api).delete(path).set('x-api-key', key),
    get: (path: string) => request(t.api).get(path).set('x-api-key', key),
  };
}

async function decide(t: TestApp, body: Record<string, unknown> = {}): Promise<Decision> {
  const res = await as(t, 'pdp')
    .post('/v1/decide', {
      tenant: TENANT,
      flow: 'autonomous',
      agent_id: 'agt-acc',
      resource: 'api://payments',
      scopes: ['payments.write'],
      requested_ttl_seconds: 3 * HOUR,
      ...body,
    })
    .expect(200);
  return res.body as Decision;
}

async function directory(t: TestApp): Promise<void> {
  await as(t, 'alice').put(`${T}/blueprints/bp-acc`, BLUEPRINT).expect(200);
  await as(t, 'alice').put(`${T}/blueprints/bp-other`, BLUEPRINT).expect(200);
  await as(t, 'alice').put(`${T}/agents/agt-acc`, AGENT).expect(200);
  await as(t, 'alice')
    .put(`${T}/agents/agt-peer`, { ...AGENT, blueprint_id: 'bp-other' })
    .expect(200);
}

/** The sponsor asks for `pkg` for agt-acc for two hours; the approver approves. Returns the assignment id. */
async function assignTwoHours(t: TestApp, pkg = 'pkg-pay'): Promise<string> {
  const requested = await as(t, 'u-sponsor')
    .post(`${T}/access-packages/${pkg}/assignment-requests`, {
      target: { agent_id: 'agt-acc' },
      duration_seconds: 2 * HOUR,
      justification: 'month-end payment run',
    })
    .expect(201);
  const id = (requested.body as { id: string }).id;
  await as(t, 'u-approver').post(`${T}/assignments/${id}/approve`).expect(200);
  return id;
}

describe('access packages (memory store)', () => {
  let t: TestApp;
  const clock = new TestClock();

  beforeEach(async () => {
    clock.ms = Date.parse('2026-11-27T12:00:00Z');
    t = await makeApp({ store: new MemoryStore(), clock: clock.now, apiKeys: KEYS });
    await directory(t);
    await as(t, 'alice').put(`${T}/access-packages/pkg-pay`, PAYMENTS).expect(200);
  });
  afterEach(async () => {
    await t.services.close(1000);
  });

  it('grants payments.write for two hours, caps the lifetime, and grants nothing from the expiry second', async () => {
    expect((await decide(t)).reasons.map((r) => r.code)).toEqual(['resource_not_permitted']);
    const id = await assignTwoHours(t);
    const first = await decide(t);
    expect(first.decision).toBe('allow');
    expect(first.grant).toMatchObject({ scopes: ['payments.write'], ttl_seconds: 2 * HOUR });
    expect(first.reasons).toEqual([
      {
        code: 'assignment_expiring',
        message: expect.stringContaining('7200 seconds') as string,
        policy_id: null,
      },
    ]);
    clock.advance((2 * HOUR - 1) * 1000);
    expect((await decide(t)).grant?.ttl_seconds).toBe(1);
    clock.advance(1000);
    expect((await decide(t)).reasons.map((r) => r.code)).toEqual(['resource_not_permitted']);
    const got = await as(t, 'alice').get(`${T}/assignments/${id}`).expect(200);
    expect(got.body).toMatchObject({ state: 'expired', expires_at: '2026-11-27T14:00:00.000Z' });
    const revoke = await as(t, 'alice').post(`${T}/assignments/${id}/revoke`).expect(409);
    expect(revoke.body.error.code).toBe('assignment_state_conflict');
  });

  it('does not cap the lifetime when the blueprint grants the scope permanently too', async () => {
    await as(t, 'alice')
      .put(`${T}/blueprints/bp-acc`, { ...BLUEPRINT, permissions: { 'api://payments': ['payments.write'] } })
      .expect(200);
    await assignTwoHours(t);
    const d = await decide(t);
    expect(d.grant?.ttl_seconds).toBe(3 * HOUR);
    expect(d.reasons).toEqual([]);
  });

  it('refuses the wrong approver and the requester approving their own request', async () => {
    const requested = await as(t, 'u-sponsor')
      .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
        target: { agent_id: 'agt-acc' },
        duration_seconds: HOUR,
        justification: 'x',
      })
      .expect(201);
    const id = (requested.body as { id: string; state: string }).id;
    expect(requested.body).toMatchObject({ state: 'requested', requested_by: 'u-sponsor' });
    const wrong = await as(t, 'u-other').post(`${T}/assignments/${id}/approve`).expect(403);
    expect(wrong.body.error.code).toBe('approver_not_permitted');
    // An admin is no approver unless listed.
    const adminTry = await as(t, 'alice').post(`${T}/assignments/${id}/approve`).expect(403);
    expect(adminTry.body.error.code).toBe('approver_not_permitted');
    const own = await as(t, 'u-sponsor').post(`${T}/assignments/${id}/approve`).expect(403);
    expect(own.body.error.code).toBe('self_approval_forbidden');
    expect((await decide(t)).decision).toBe('deny');

    // The listed user may approve the agent's own request, and a sponsor may when sponsors approve.
    await as(t, 'alice')
      .put(`${T}/access-packages/pkg-pay`, { ...PAYMENTS, approvers: { sponsors: true, users: [] } })
      .expect(200);
    const byAgent = await as(t, 'agt-acc')
      .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
        target: { agent_id: 'agt-acc' },
        duration_seconds: HOUR,
        justification: 'x',
      })
      .expect(201);
    const aid = (byAgent.body as { id: string }).id;
    const approved = await as(t, 'u-sponsor').post(`${T}/assignments/${aid}/approve`).expect(200);
    expect(approved.body).toMatchObject({
      state: 'active',
      decided_by: 'u-sponsor',
      requested_by: 'agt-acc',
    });
    const again = await as(t, 'u-sponsor').post(`${T}/assignments/${aid}/approve`).expect(409);
    expect(again.body.error.code).toBe('assignment_state_conflict');
    expect((await decide(t)).decision).toBe('allow');
  });

  it('denies a request: nothing is granted', async () => {
    const requested = await as(t, 'u-sponsor')
      .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
        target: { agent_id: 'agt-acc' },
        duration_seconds: HOUR,
        justification: 'x',
      })
      .expect(201);
    const id = (requested.body as { id: string }).id;
    const denied = await as(t, 'u-approver')
      .post(`${T}/assignments/${id}/deny`, { reason: 'not this month' })
      .expect(200);
    expect(denied.body).toMatchObject({ state: 'denied', decided_by: 'u-approver' });
    expect((await decide(t)).decision).toBe('deny');
    await as(t, 'u-approver').post(`${T}/assignments/${id}/approve`).expect(409);
  });

  it('refuses callers the package does not name as requestors', async () => {
    for (const who of ['u-other', 'alice', 'constructor']) {
      const res = await as(t, who)
        .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
          target: { agent_id: 'agt-acc' },
          duration_seconds: HOUR,
          justification: 'x',
        })
        .expect(403);
      expect(res.body.error.code).toBe('requestor_not_permitted');
    }
    // A sponsor of one agent cannot request for an agent they do not sponsor.
    await as(t, 'alice')
      .put(`${T}/agents/agt-peer`, { ...AGENT, sponsors: ['u-other'] })
      .expect(200);
    const res = await as(t, 'u-sponsor')
      .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
        target: { agent_id: 'agt-peer' },
        duration_seconds: HOUR,
        justification: 'x',
      })
      .expect(403);
    expect(res.body.error.code).toBe('requestor_not_permitted');
  });

  it.each([
    [{}, '/justification'],
    [{ justification: '' }, '/justification'],
    [{ justification: '   \n\t' }, '/justification'],
  ])('enforces a required justification (%j)', async (extra, pointer) => {
    const res = await as(t, 'u-sponsor')
      .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
        target: { agent_id: 'agt-acc' },
        duration_seconds: HOUR,
        ...extra,
      })
      .expect(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: { pointer: string }) => d.pointer)).toEqual([pointer]);
  });

  it('refuses a duration over the package maximum, and malformed requests', async () => {
    const over = await as(t, 'u-sponsor')
      .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
        target: { agent_id: 'agt-acc' },
        duration_seconds: 4 * HOUR + 1,
        justification: 'x',
      })
      .expect(400);
    expect(over.body.error.details[0].pointer).toBe('/duration_seconds');
    for (const body of [
      { target: { agent_id: 'agt-acc', blueprint_id: 'bp-acc' }, duration_seconds: HOUR },
      { target: { all_agents: false }, duration_seconds: HOUR },
      { target: { agent_id: '__proto__' }, duration_seconds: HOUR },
      { target: { agent_id: 'agt-acc' }, duration_seconds: '3600' },
      { target: { agent_id: 'agt-acc' }, duration_seconds: HOUR, extra: 1 },
    ]) {
      const res = await as(t, 'u-sponsor').post(`${T}/access-packages/pkg-pay/assignment-requests`, body);
      expect([res.status, res.body.error.code]).toEqual([400, 'invalid_request']);
    }
    await as(t, 'u-sponsor')
      .post(`${T}/access-packages/pkg-none/assignment-requests`, {
        target: { agent_id: 'agt-acc' },
        duration_seconds: HOUR,
      })
      .expect(404);
  });

  it('revoking an assignment denies the next decision', async () => {
    const id = await assignTwoHours(t);
    expect((await decide(t)).decision).toBe('allow');
    const other = await as(t, 'u-other').post(`${T}/assignments/${id}/revoke`).expect(403);
    expect(other.body.error.code).toBe('approver_not_permitted');
    const revoked = await as(t, 'bob').post(`${T}/assignments/${id}/revoke`, { reason: 'done' }).expect(200);
    expect(revoked.body).toMatchObject({ state: 'revoked', revoked_by: 'bob' });
    expect((await decide(t)).reasons.map((r) => r.code)).toEqual(['resource_not_permitted']);
  });

  it('drops the entitlements of a deleted agent: one created again under its id starts without them', async () => {
    await assignTwoHours(t);
    expect((await decide(t)).decision).toBe('allow');
    await as(t, 'alice').del(`${T}/agents/agt-acc`).expect(204);
    await as(t, 'alice').put(`${T}/agents/agt-acc`, AGENT).expect(200);
    expect((await decide(t)).reasons.map((r) => r.code)).toEqual(['resource_not_permitted']);
  });

  it('adds direct agent permissions to the blueprint permissions', async () => {
    const both = { scopes: ['invoices.read', 'invoices.write'], resource: 'api://invoices' };
    expect((await decide(t, both)).grant?.scopes).toEqual(['invoices.read']);
    await as(t, 'alice')
      .put(`${T}/agents/agt-acc`, { ...AGENT, permissions: { 'api://invoices': ['invoices.write'] } })
      .expect(200);
    const d = await decide(t, both);
    expect(d.grant).toMatchObject({ scopes: ['invoices.read', 'invoices.write'], ttl_seconds: 3 * HOUR });
    expect(d.reasons).toEqual([]);
    // Another agent of the blueprint does not inherit them.
    await as(t, 'alice').put(`${T}/agents/agt-acc2`, AGENT).expect(200);
    expect((await decide(t, { ...both, agent_id: 'agt-acc2' })).grant?.scopes).toEqual(['invoices.read']);
    const bad = await as(t, 'alice')
      .put(`${T}/agents/agt-acc`, { ...AGENT, permissions: { 'api://invoices': 'invoices.write' } })
      .expect(400);
    expect(bad.body.error.details[0].pointer).toBe('/permissions/api:~1~1invoices');
  });

  it('AuthZEN search finds scopes and resources from every source of effective permissions', async () => {
    await as(t, 'alice')
      .put(`${T}/agents/agt-acc`, { ...AGENT, permissions: { 'api://ledger': ['ledger.read'] } })
      .expect(200);
    await assignTwoHours(t);
    const search = async (kind: string, body: object): Promise<unknown> =>
      (
        await as(t, 'pdp')
          .post(`/access/v1/search/${kind}`, {
            subject: { type: 'agent', id: 'agt-acc' },
            context: { tenant: TENANT },
            ...body,
          })
          .expect(200)
      ).body.results;
    expect(await search('action', { resource: { type: 'api', id: 'api://payments' } })).toEqual([
      { name: 'payments.write' },
    ]);
    expect(await search('action', { resource: { type: 'api', id: 'api://ledger' } })).toEqual([
      { name: 'ledger.read' },
    ]);
    for (const [scope, id] of [
      ['payments.write', 'api://payments'],
      ['ledger.read', 'api://ledger'],
      ['invoices.read', 'api://invoices'],
    ] as const) {
      expect(await search('resource', { action: { name: scope }, resource: { type: 'api' } })).toEqual([
        { type: 'api', id },
      ]);
    }
    clock.advance(2 * HOUR * 1000);
    expect(await search('action', { resource: { type: 'api', id: 'api://payments' } })).toEqual([]);
  });

  it('grants blueprint- and all-agents-targeted assignments to exactly the agents they target', async () => {
    await as(t, 'alice')
      .put(`${T}/access-packages/pkg-open`, {
        ...PAYMENTS,
        requestors: ['admin'],
        approvers: { sponsors: false, users: [] },
        justification_required: false,
      })
      .expect(200);
    const byBlueprint = await as(t, 'alice')
      .post(`${T}/access-packages/pkg-open/assignment-requests`, {
        target: { blueprint_id: 'bp-acc' },
        duration_seconds: HOUR,
      })
      .expect(201);
    // No approver: active at once.
    expect(byBlueprint.body).toMatchObject({ state: 'active', expires_at: '2026-11-27T13:00:00.000Z' });
    expect((await decide(t)).decision).toBe('allow');
    expect((await decide(t, { agent_id: 'agt-peer' })).decision).toBe('deny');
    await as(t, 'alice')
      .post(`${T}/access-packages/pkg-open/assignment-requests`, {
        target: { all_agents: true },
        duration_seconds: HOUR,
      })
      .expect(201);
    expect((await decide(t, { agent_id: 'agt-peer' })).decision).toBe('allow');
    // An unknown agent is still unknown.
    expect((await decide(t, { agent_id: 'constructor' })).reasons.map((r) => r.code)).toEqual([
      'agent_not_found',
    ]);
    await as(t, 'alice')
      .post(`${T}/access-packages/pkg-open/assignment-requests`, {
        target: { blueprint_id: 'bp-none' },
        duration_seconds: HOUR,
      })
      .expect(404);
  });

  it('never grants hostile resource names or ids it was not given', async () => {
    await assignTwoHours(t);
    for (const resource of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype']) {
      const d = await decide(t, { resource });
      expect([resource, d.decision]).toEqual([resource, 'deny']);
    }
    for (const agent_id of ['constructor', 'toString', 'valueOf']) {
      expect((await decide(t, { agent_id })).decision).toBe('deny');
    }
    // `__proto__` never enters a record (the body parser refuses it); other hostile names are plain names.
    const proto = await as(t, 'alice')
      .put(`${T}/access-packages/pkg-proto`, {
        ...PAYMENTS,
        resources: JSON.parse('{"__proto__": ["x.read"]}') as object,
      })
      .expect(400);
    expect(proto.body.error.details[0]).toMatchObject({
      pointer: '/resources/__proto__',
      keyword: 'reservedKey',
    });
    await as(t, 'alice')
      .put(`${T}/access-packages/constructor`, {
        ...PAYMENTS,
        resources: { constructor: ['y.read'], toString: ['x.read'] },
      })
      .expect(200);
    const stored = await as(t, 'alice').get(`${T}/access-packages/constructor`).expect(200);
    expect(Object.keys(stored.body.resources as object)).toEqual(['constructor', 'toString']);
    await assignTwoHours(t, 'constructor');
    expect((await decide(t, { resource: 'constructor', scopes: ['y.read'] })).grant?.scopes).toEqual([
      'y.read',
    ]);
    expect((await decide(t, { resource: 'constructor', scopes: ['x.read'] })).decision).toBe('deny');
    expect((await decide(t, { resource: 'toString', scopes: ['y.read'] })).decision).toBe('deny');
    expect((await decide(t, { resource: 'valueOf', scopes: ['x.read'] })).decision).toBe('deny');
    expect((await decide(t, { resource: 'api://payments', scopes: ['y.read'] })).decision).toBe('deny');
  });

  it('refuses to delete a package in use, lists packages and assignments', async () => {
    const id = await assignTwoHours(t);
    const busy = await as(t, 'alice').del(`${T}/access-packages/pkg-pay`).expect(409);
    expect(busy.body.error.code).toBe('package_in_use');
    const list = await as(t, 'alice').get(`${T}/assignments?package_id=pkg-pay`).expect(200);
    expect(list.body.value.map((a: { id: string; state: string }) => [a.id, a.state])).toEqual([
      [id, 'active'],
    ]);
    expect((await as(t, 'alice').get(`${T}/access-packages`).expect(200)).body.value).toHaveLength(1);
    await as(t, 'alice').post(`${T}/assignments/${id}/revoke`).expect(200);
    await as(t, 'alice').del(`${T}/access-packages/pkg-pay`).expect(204);
    await as(t, 'alice').get(`${T}/access-packages/pkg-pay`).expect(404);
    // Packages are admin-only.
    await as(t, 'u-sponsor').put(`${T}/access-packages/pkg-x`, PAYMENTS).expect(403);
  });

  it('applies a package resource change to its active assignments', async () => {
    await assignTwoHours(t);
    await as(t, 'alice')
      .put(`${T}/access-packages/pkg-pay`, {
        ...PAYMENTS,
        resources: { 'api://payments': ['payments.refund'] },
      })
      .expect(200);
    expect((await decide(t)).decision).toBe('deny');
    expect((await decide(t, { scopes: ['payments.refund'] })).decision).toBe('allow');
  });

  it('records every package and assignment change with actor and before/after', async () => {
    const id = await assignTwoHours(t);
    await as(t, 'bob')
      .put(`${T}/access-packages/pkg-pay`, { ...PAYMENTS, display_name: 'Payments (renamed)' })
      .expect(200);
    await as(t, 'u-approver').post(`${T}/assignments/${id}/revoke`, { reason: 'finished' }).expect(200);
    const mine = (await as(t, 'alice').get(`${T}/governance/audit?agent_id=agt-acc`).expect(200))
      .body as Page;
    const events = mine.value.filter((e) => e.target.type !== 'agent');
    expect(events.map((e) => [e.target, e.action, e.actor])).toEqual([
      [{ type: 'assignment', id }, 'revoke', 'u-approver'],
      [{ type: 'access-package', id: 'pkg-pay' }, 'update', 'bob'],
      [{ type: 'assignment', id }, 'approve', 'u-approver'],
      [{ type: 'assignment', id }, 'request', 'u-sponsor'],
    ]);
    const [revoked, updated, approved, requested] = events;
    expect(requested?.before).toBeNull();
    expect(requested?.after).toMatchObject({ state: 'requested', justification: 'month-end payment run' });
    expect(requested?.reason).toBe('month-end payment run');
    expect(approved?.before).toMatchObject({ state: 'requested' });
    expect(approved?.after).toMatchObject({
      state: 'active',
      expires_at_epoch: expect.any(Number) as number,
    });
    expect(updated?.before).toMatchObject({ display_name: 'Payments writers' });
    expect(updated?.after).toMatchObject({ display_name: 'Payments (renamed)' });
    expect(revoked?.before).toMatchObject({ state: 'active' });
    expect(revoked?.after).toMatchObject({ state: 'revoked', revoked_by: 'u-approver' });
    expect(revoked?.reason).toBe('finished');
    await as(t, 'alice').del(`${T}/access-packages/pkg-pay`).expect(204);
    const all = (await as(t, 'alice').get(`${T}/governance/audit?limit=100`).expect(200)).body as Page;
    const pkgEvents = all.value.filter((e) => e.target.type === 'access-package');
    expect(pkgEvents.map((e) => [e.action, e.actor, e.before === null, e.after === null])).toEqual([
      ['delete', 'alice', false, true],
      ['update', 'bob', false, false],
      ['create', 'alice', true, false],
    ]);
  });
});

describe('access packages on two replicas sharing one Redis', () => {
  let redis: RedisProcess;
  let a: TestApp;
  let b: TestApp;
  const clock = new TestClock();

  beforeAll(async () => {
    redis = await RedisProcess.start();
    a = await makeApp({ store: await redisStore(redis.url), clock: clock.now, apiKeys: KEYS });
    b = await makeApp({ store: await redisStore(redis.url), clock: clock.now, apiKeys: KEYS });
    await directory(a);
    await as(a, 'alice').put(`${T}/access-packages/pkg-pay`, PAYMENTS).expect(200);
  });
  afterAll(async () => {
    await a.services.close(1000);
    await b.services.close(1000);
    await redis.stop();
  });

  it('allows for two hours with a capped lifetime and denies the second after expiry on both', async () => {
    // Both replicas decide before the assignment exists, so each holds the grants keys in its cache.
    for (const t of [a, b]) expect((await decide(t)).decision).toBe('deny');
    const id = await assignTwoHours(a);
    await new Promise((r) => setTimeout(r, 50)); // the invalidation message reaches b
    for (const t of [a, b]) {
      const d = await decide(t);
      expect(d.grant).toMatchObject({ scopes: ['payments.write'], ttl_seconds: 2 * HOUR });
      expect(d.reasons.map((r) => r.code)).toEqual(['assignment_expiring']);
    }
    clock.advance((2 * HOUR - 1) * 1000);
    for (const t of [a, b]) expect((await decide(t)).grant?.ttl_seconds).toBe(1);
    clock.advance(1000);
    for (const t of [a, b]) {
      expect((await decide(t)).reasons.map((r) => r.code)).toEqual(['resource_not_permitted']);
    }
    expect((await as(b, 'alice').get(`${T}/assignments/${id}`).expect(200)).body.state).toBe('expired');
  });

  it('revoked on one replica, denied on both', async () => {
    const id = await assignTwoHours(b);
    await new Promise((r) => setTimeout(r, 50));
    for (const t of [a, b]) expect((await decide(t)).decision).toBe('allow');
    await as(b, 'alice').post(`${T}/assignments/${id}/revoke`).expect(200);
    await new Promise((r) => setTimeout(r, 50));
    for (const t of [a, b]) expect((await decide(t)).decision).toBe('deny');
    const trail = (await as(a, 'alice').get(`${T}/governance/audit?agent_id=agt-acc&limit=3`).expect(200))
      .body as Page;
    expect(trail.value.map((e) => [e.action, e.actor])).toEqual([
      ['revoke', 'alice'],
      ['approve', 'u-approver'],
      ['request', 'u-sponsor'],
    ]);
  });

  it('fails closed on grants records written around the API, and never grants from a hostile one', async () => {
    const raw = new Redis(redis.url);
    try {
      const epoch = Math.floor(clock.ms / 1000) + HOUR;
      const entitlement = { permissions: { 'api://payments': ['payments.write'] }, expires_at_epoch: epoch };
      const cases: [string, string, string[]][] = [
        [recordKey(TENANT, 'grants:agent', 'agt-acc'), '[1,2]', ['signals_unavailable']],
        [recordKey(TENANT, 'grants:agent', 'agt-acc'), '{"entitlements":"x"}', ['resource_not_permitted']],
        // A shared entitlement for another blueprint, and one whose target is not an object.
        [
          recordKey(TENANT, 'grants:shared', SHARED_GRANTS_ID),
          JSON.stringify({
            entitlements: [
              { ...entitlement, target: { blueprint_id: 'bp-other' } },
              { ...entitlement, target: 'all_agents' },
              { ...entitlement, target: { all_agents: 1 } },
            ],
          }),
          ['resource_not_permitted'],
        ],
      ];
      for (const [key, value, codes] of cases) {
        await raw.set(key, value);
        await raw.publish(INVALIDATION_CHANNEL, key);
        await new Promise((r) => setTimeout(r, 50));
        for (const t of [a, b]) expect((await decide(t)).reasons.map((r) => r.code)).toEqual(codes);
        await raw.del(key);
        await raw.publish(INVALIDATION_CHANNEL, key);
      }
    } finally {
      raw.disconnect();
    }
  });

  it('keeps every approval and every revocation when both replicas change one agent at once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await as(a, 'u-sponsor')
        .post(`${T}/access-packages/pkg-pay/assignment-requests`, {
          target: { agent_id: 'agt-acc' },
          duration_seconds: HOUR,
          justification: `run ${i}`,
        })
        .expect(201);
      ids.push((res.body as { id: string }).id);
    }
    const [first, ...rest] = ids;
    await as(a, 'u-approver')
      .post(`${T}/assignments/${first ?? ''}/approve`)
      .expect(200);
    // Approvals on both replicas at once, and the first revoked meanwhile.
    await Promise.all([
      ...rest.map((id, i) =>
        as(i % 2 === 0 ? a : b, 'u-approver')
          .post(`${T}/assignments/${id}/approve`)
          .expect(200),
      ),
      as(b, 'alice')
        .post(`${T}/assignments/${first ?? ''}/revoke`)
        .expect(200),
    ]);
    const raw = new Redis(redis.url);
    try {
      const stored = JSON.parse((await raw.get(recordKey(TENANT, 'grants:agent', 'agt-acc'))) ?? '{}') as {
        entitlements: { assignment_id: string }[];
      };
      expect(stored.entitlements.map((e) => e.assignment_id).sort()).toEqual([...rest].sort());
    } finally {
      raw.disconnect();
    }
  });
});
