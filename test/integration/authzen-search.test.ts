/**
 * AuthZEN search (Authorization API 1.0 §8) over the example tenant: the same policy answers
 * search and evaluation. Over a generated corpus (agents × scopes × resources × risk levels ×
 * client addresses) a search's results are exactly the candidates whose evaluation permits, and
 * nothing outside the candidates would have been permitted.
 */
import fc from 'fast-check';
import request from 'supertest';
import { MemoryStore } from '../../src/store/memory-store';
import { TestClock, makeApp, redisStore, seeded, type TestApp } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const CORP = { ip: '198.51.100.7', country: 'NL' };
const UNTRUSTED = { ip: '203.0.113.7', country: 'NL' };
const PAYMENTS = { type: 'api', id: 'api://payments' };

const AGENTS = [
  'agt-7f3a',
  'agt-research-1',
  'agt-lab-1',
  'agt-break-glass',
  'agt-disabled',
  'agt-orphan',
  'agt-expired',
  'agt-retired',
  'agt-nobody',
];
const RESOURCES = ['api://payments', 'api://invoices', 'api://search', 'api://docs', 'api://hr'];
const SCOPES = [
  'payments.read',
  'payments.write',
  'invoices.read',
  'invoices.write',
  'search.query',
  'docs.read',
  'hr.read',
];
const RISK = ['none', 'low', 'medium', 'high'] as const;

describe('AuthZEN search', () => {
  let t: TestApp;
  beforeAll(async () => {
    const clock = new TestClock();
    t = await makeApp({ store: await seeded(new MemoryStore(), clock.now), clock: clock.now });
  });

  const post = (path: string, body: unknown) =>
    request(t.api)
      .post(path)
      .send(body as object);

  /** Every result of a search, page after page. */
  async function all(kind: string, body: Record<string, unknown>, limit?: number): Promise<unknown[]> {
    const out: unknown[] = [];
    let token = '';
    for (let pages = 0; pages < 50; pages++) {
      const page = { ...(limit !== undefined && { limit }), ...(token !== '' && { token }) };
      const res = await post(`/access/v1/search/${kind}`, { ...body, page }).expect(200);
      out.push(...(res.body.results as unknown[]));
      expect(res.body.page.count).toBe(res.body.results.length);
      token = res.body.page.next_token as string;
      if (token === '') return out;
    }
    throw new Error('the search never ended');
  }

  const permits = async (subject: string, action: string, resource: string, client: object) =>
    (
      await post('/access/v1/evaluation', {
        subject: { type: 'agent', id: subject },
        action: { name: action },
        resource: { type: 'api', id: resource },
        context: { client },
      }).expect(200)
    ).body.decision as boolean;

  it('finds the scopes an agent may use on a resource (what an MCP server needs to trim its tools)', async () => {
    const body = { subject: { type: 'agent', id: 'agt-7f3a' }, resource: PAYMENTS };
    expect(await all('action', { ...body, context: { client: CORP } })).toEqual([
      { name: 'payments.read' },
      { name: 'payments.write' },
    ]);
    // Outside trusted locations payments is read-only (ca-payments-untrusted-read-only).
    expect(await all('action', { ...body, context: { client: UNTRUSTED } })).toEqual([
      { name: 'payments.read' },
    ]);
  });

  it('finds the resources and the agents', async () => {
    const resources = await all('resource', {
      subject: { type: 'agent', id: 'agt-7f3a' },
      action: { name: 'invoices.read' },
      resource: { type: 'api' },
      context: { client: CORP },
    });
    expect(resources).toEqual([{ type: 'api', id: 'api://invoices' }]);
    const subjects = await all('subject', {
      subject: { type: 'agent' },
      action: { name: 'payments.read' },
      resource: PAYMENTS,
      context: { client: CORP },
    });
    const ids = subjects.map((s) => (s as { id: string }).id);
    expect(ids).toContain('agt-7f3a');
    expect(ids).not.toContain('agt-disabled');
    expect(ids).not.toContain('agt-research-1');
  });

  it('equals evaluation over a generated corpus of agents, scopes, resources, risk levels and clients', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...AGENTS),
        fc.constantFrom(...RESOURCES),
        fc.constantFrom(...SCOPES),
        fc.constantFrom(...RISK),
        fc.constantFrom(CORP, UNTRUSTED),
        fc.integer({ min: 1, max: 3 }),
        async (agent, resource, scope, risk, client, limit) => {
          await request(t.api)
            .put(`/v1/tenants/default/signals/agents/${agent}/risk`)
            .send({ level: risk })
            .expect(200);
          const context = { client };
          const actions = await all(
            'action',
            { subject: { type: 'agent', id: agent }, resource: { type: 'api', id: resource }, context },
            limit,
          );
          const permittedScopes = [];
          for (const s of SCOPES)
            if (await permits(agent, s, resource, client)) permittedScopes.push({ name: s });
          expect(actions).toEqual(permittedScopes);

          const resources = await all(
            'resource',
            {
              subject: { type: 'agent', id: agent },
              action: { name: scope },
              resource: { type: 'api' },
              context,
            },
            limit,
          );
          const permittedResources = [];
          for (const r of [...RESOURCES].sort())
            if (await permits(agent, scope, r, client)) permittedResources.push({ type: 'api', id: r });
          expect(resources).toEqual(permittedResources);

          const subjects = await all(
            'subject',
            {
              subject: { type: 'agent' },
              action: { name: scope },
              resource: { type: 'api', id: resource },
              context,
            },
            limit,
          );
          const permittedAgents = [];
          for (const a of [...AGENTS].sort())
            if (await permits(a, scope, resource, client)) permittedAgents.push({ type: 'agent', id: a });
          expect(subjects).toEqual(permittedAgents);
        },
      ),
      { numRuns: 60, seed: 20261205 },
    );
    // Leave the example directory as it was.
    for (const agent of AGENTS) {
      await request(t.api)
        .put(`/v1/tenants/default/signals/agents/${agent}/risk`)
        .send({ level: 'none' })
        .expect(200);
    }
  }, 120_000);

  it('pages with opaque tokens bound to their query', async () => {
    const body = {
      subject: { type: 'agent', id: 'agt-7f3a' },
      resource: PAYMENTS,
      context: { client: CORP },
    };
    const first = await post('/access/v1/search/action', { ...body, page: { limit: 1 } }).expect(200);
    expect(first.body.results).toEqual([{ name: 'payments.read' }]);
    const token = first.body.page.next_token as string;
    expect(token).not.toBe('');
    const second = await post('/access/v1/search/action', { ...body, page: { limit: 1, token } }).expect(200);
    expect(second.body.results).toEqual([{ name: 'payments.write' }]);
    expect(second.body.page.next_token).toBe('');

    // The token of one query does not page another, and a forged one is refused.
    const other = { ...body, context: { client: UNTRUSTED } };
    for (const bad of [token, 'not-a-token', Buffer.from('{"q":"x","o":1}').toString('base64url')]) {
      const res = await post('/access/v1/search/action', { ...other, page: { token: bad } }).expect(400);
      expect(res.body.error.details[0].pointer).toBe('/page/token');
    }
  });

  it.each([
    ['action', { subject: { type: 'agent', id: 'agt-7f3a' } }, '/resource'],
    ['resource', { subject: { type: 'agent', id: 'agt-7f3a' }, resource: { type: 'api' } }, '/action'],
    ['subject', { subject: { type: 'user' }, action: { name: 'x' }, resource: PAYMENTS }, '/subject/type'],
    [
      'action',
      { subject: { type: 'agent', id: 'agt-7f3a' }, resource: PAYMENTS, page: { limit: 1000 } },
      '/page/limit',
    ],
    [
      'action',
      { subject: { type: 'agent', id: 'agt-7f3a' }, resource: PAYMENTS, context: { scope: 'payments.read' } },
      '/context/scope',
    ],
  ])('refuses an invalid %s search with 400 and the pointer', async (kind, body, pointer) => {
    const res = await post(`/access/v1/search/${kind}`, body).expect(400);
    expect(res.body.error.code).toBe('invalid_request');
    const pointers = (res.body.error.details as { pointer: string }[]).map((d) => d.pointer);
    expect(pointers.some((p) => p === pointer || p.startsWith(`${pointer}/`) || pointer.startsWith(p))).toBe(
      true,
    );
  });
});

describe('AuthZEN subject search over Redis', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await RedisProcess.start();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('enumerates the agents the store indexes with every write and delete', async () => {
    // A generous read budget: on a busy machine a 50 ms budget would fail closed, which is not what is tested here.
    const t = await makeApp({ store: await redisStore(redis.url, { readBudgetMs: 2000 }) });
    try {
      await seeded(t.store);
      const body = {
        subject: { type: 'agent' },
        action: { name: 'payments.read' },
        resource: PAYMENTS,
        context: { client: CORP },
      };
      const ids = async () =>
        (
          (await request(t.api).post('/access/v1/search/subject').send(body).expect(200)).body.results as {
            id: string;
          }[]
        ).map((r) => r.id);
      expect(await ids()).toEqual(['agt-7f3a', 'agt-break-glass', 'agt-lab-1']);
      await request(t.api).delete('/v1/tenants/default/agents/agt-lab-1').expect(204);
      expect(await ids()).toEqual(['agt-7f3a', 'agt-break-glass']);
      const record = (await request(t.api).get('/v1/tenants/default/agents/agt-7f3a').expect(200))
        .body as object;
      await request(t.api)
        .put('/v1/tenants/default/agents/agt-copy')
        .send({ ...record, id: undefined, updated_at: undefined })
        .expect(200);
      expect(await ids()).toEqual(['agt-7f3a', 'agt-break-glass', 'agt-copy']);
    } finally {
      await t.store.close();
    }
  });
});
