import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { ApiKeyEntry } from '../../src/config';
import type { GovernanceEvent } from '../../src/governance/trail';
import { agentTrailKey } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory-store';
import type { SignalStore } from '../../src/store/types';
import { TestClock, makeApp, redisStore, type TestApp } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const T = '/v1/tenants/default';
const keyOf = (name: string): string => `key-${name}-0123456789`;
const entry = (name: string): ApiKeyEntry => ({
  name,
  roles: ['admin'],
  sha256: createHash('sha256').update(keyOf(name)).digest('hex'),
});
const AGENT = {
  blueprint_id: 'bp-trail',
  display_name: 'Trail agent',
  enabled: true,
  sponsors: ['u-sponsor'],
};

interface Page {
  value: GovernanceEvent[];
  next: string | null;
}

function suite(name: string, storeOf: () => Promise<SignalStore>, after: () => Promise<void>): void {
  describe(`governance trail (${name} store)`, () => {
    let t: TestApp;
    const clock = new TestClock();
    const as = (who: string) => ({
      put: (path: string, body: object) => request(t.api).put(path).set('x-api-key', keyOf(who)).send(body),
      post: (path: string, body: object) => request(t.api).post(path).set('x-api-key', keyOf(who)).send(body),
      del: (path: string) => request(t.api).delete(path).set('x-api-key', keyOf(who)),
      get: (path: string) => request(t.api).get(path).set('x-api-key', keyOf(who)),
    });

    beforeAll(async () => {
      t = await makeApp({
        store: await storeOf(),
        clock: clock.now,
        apiKeys: [entry('alice'), entry('bob')],
      });
    });
    afterAll(async () => {
      await t.services.close(1000);
      await after();
    });

    it('records create, update and delete of an agent with actor, before and after, newest first', async () => {
      await as('alice').put(`${T}/agents/agt-trail`, AGENT).expect(200);
      clock.advance(1000);
      await as('bob')
        .put(`${T}/agents/agt-trail`, { ...AGENT, enabled: false })
        .expect(200);
      clock.advance(1000);
      await as('alice').del(`${T}/agents/agt-trail`).expect(204);
      const page = (await as('bob').get(`${T}/governance/audit?agent_id=agt-trail`).expect(200)).body as Page;
      expect(page.value.map((e) => [e.action, e.actor, e.target])).toEqual([
        ['delete', 'alice', { type: 'agent', id: 'agt-trail' }],
        ['update', 'bob', { type: 'agent', id: 'agt-trail' }],
        ['create', 'alice', { type: 'agent', id: 'agt-trail' }],
      ]);
      const [deleted, updated, created] = page.value;
      expect(created?.before).toBeNull();
      expect(created?.after).toMatchObject({ ...AGENT, id: 'agt-trail' });
      expect(updated?.before).toMatchObject({ enabled: true });
      expect(updated?.after).toMatchObject({ enabled: false });
      expect(deleted?.before).toMatchObject({ enabled: false });
      expect(deleted?.after).toBeNull();
      expect(created?.at).toBe('2026-11-27T12:00:00.000Z');
      expect(deleted?.at).toBe('2026-11-27T12:00:02.000Z');
      expect(page.value.every((e) => e.tenant === 'default' && e.agents.includes('agt-trail'))).toBe(true);
    });

    it('records risk changes, ID Protection actions and revocations under the agent', async () => {
      await as('alice').put(`${T}/agents/agt-risky`, AGENT).expect(200);
      await as('alice').put(`${T}/signals/agents/agt-risky/risk`, { level: 'high' }).expect(200);
      await as('bob')
        .post(`${T}/risky-agents/dismiss`, { agentIds: ['agt-risky'] })
        .expect(204);
      await as('bob').post(`${T}/signals/agents/agt-risky/revocation`, { reason: 'leaked key' }).expect(201);
      const page = (await as('alice').get(`${T}/governance/audit?agent_id=agt-risky`).expect(200))
        .body as Page;
      expect(page.value.map((e) => [e.target.type, e.action, e.actor])).toEqual([
        ['revoked:agent', 'revoke', 'bob'],
        ['risk:agent', 'dismiss', 'bob'],
        ['risk:agent', 'update', 'alice'],
        ['agent', 'create', 'alice'],
      ]);
      expect(page.value[0]?.reason).toBe('leaked key');
      expect(page.value[1]?.before).toMatchObject({ level: 'high' });
      expect(page.value[1]?.after).toMatchObject({ level: 'none', state: 'dismissed' });
    });

    it('records agent users under the agent they belong to, blueprints in the tenant trail', async () => {
      await as('alice').put(`${T}/agents/agt-au`, AGENT).expect(200);
      await as('alice').put(`${T}/agent-users/au-1`, { agent_id: 'agt-au', enabled: true }).expect(200);
      await as('alice')
        .put(`${T}/blueprints/bp-trail`, { enabled: true, permissions: { 'api://x': ['x.read'] } })
        .expect(200);
      const mine = (await as('alice').get(`${T}/governance/audit?agent_id=agt-au`).expect(200)).body as Page;
      expect(mine.value.map((e) => e.target)).toEqual([
        { type: 'agent-user', id: 'au-1' },
        { type: 'agent', id: 'agt-au' },
      ]);
      const all = (await as('alice').get(`${T}/governance/audit?limit=1`).expect(200)).body as Page;
      expect(all.value.map((e) => e.target)).toEqual([{ type: 'blueprint', id: 'bp-trail' }]);
    });

    it('pages newest first with the cursor, without repeats or gaps', async () => {
      for (let i = 0; i < 5; i++) {
        clock.advance(1);
        await as('alice')
          .put(`${T}/agents/agt-pages`, { ...AGENT, display_name: `v${i}` })
          .expect(200);
      }
      const names: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = `${T}/governance/audit?agent_id=agt-pages&limit=2${cursor === null ? '' : `&before=${cursor}`}`;
        const page = (await as('alice').get(q).expect(200)).body as Page;
        names.push(...page.value.map((e) => (e.after as { display_name: string }).display_name));
        cursor = page.next;
      } while (cursor !== null);
      expect(names).toEqual(['v4', 'v3', 'v2', 'v1', 'v0']);
    });

    it.each([
      ['limit=0', '/limit'],
      ['limit=1001', '/limit'],
      ['limit=abc', '/limit'],
      ['before=%7B%7D', '/before'],
      ['agent_id=a&agent_id=b', '/agent_id'],
      ['agent_id[x]=1', '/agent_id[x]'],
      ['__proto__=1', '/__proto__'],
      ['agent_id=__proto__', '/agent_id'],
      ['agent_id=has%20space', '/agent_id'],
    ])('refuses %s with 400 and the pointer %s', async (query, pointer) => {
      const res = await as('alice').get(`${T}/governance/audit?${query}`).expect(400);
      expect(res.body).toMatchObject({ error: { code: 'invalid_request' } });
      expect(JSON.stringify(res.body)).toContain(`"pointer":"${pointer}"`);
    });

    it('answers an agent with no changes with an empty page, and a bad tenant with 400', async () => {
      const page = (await as('alice').get(`${T}/governance/audit?agent_id=agt-none`).expect(200))
        .body as Page;
      expect(page).toEqual({ value: [], next: null });
      await as('alice').get('/v1/tenants/a%7Bb/governance/audit').expect(400);
    });

    it('requires the admin role', async () => {
      await request(t.api).get(`${T}/governance/audit`).expect(401);
    });
  });
}

suite(
  'memory',
  () => Promise.resolve(new MemoryStore()),
  () => Promise.resolve(),
);

let redis: RedisProcess | undefined;
suite(
  'redis',
  async () => {
    redis = await RedisProcess.start();
    return redisStore(redis.url);
  },
  async () => {
    await redis?.stop();
  },
);

describe('governance trail in Redis', () => {
  let server: RedisProcess;
  let t: TestApp;
  beforeAll(async () => {
    server = await RedisProcess.start();
    t = await makeApp({ store: await redisStore(server.url) });
  });
  afterAll(async () => {
    await t.services.close(1000);
    await server.stop();
  });

  it('skips entries written around the PDP instead of failing the page', async () => {
    await request(t.api).put(`${T}/agents/agt-odd`).send(AGENT).expect(200);
    const raw = new Redis(server.url);
    await raw.xadd(agentTrailKey('default', 'agt-odd'), '*', 'e', 'not json');
    await raw.xadd(agentTrailKey('default', 'agt-odd'), '*', 'x', '{}');
    await raw.xadd(agentTrailKey('default', 'agt-odd'), '*', 'e', '[1]');
    raw.disconnect();
    const page = (await request(t.api).get(`${T}/governance/audit?agent_id=agt-odd`).expect(200))
      .body as Page;
    expect(page.value.map((e) => e.action)).toEqual(['create']);
    expect(page.value[0]?.actor).toBe('anonymous');
  });

  it('is appended inside the same MULTI/EXEC as the change it records', async () => {
    const client = new Redis(server.url);
    const monitor = await client.monitor();
    const commands: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      commands.push((args[0] ?? '').toLowerCase());
    });
    await request(t.api).put(`${T}/agents/agt-atomic`).send(AGENT).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    monitor.disconnect();
    client.disconnect();
    const multi = commands.indexOf('multi');
    const exec = commands.indexOf('exec', multi);
    const inside = commands.slice(multi + 1, exec);
    expect(multi).toBeGreaterThanOrEqual(0);
    expect(inside.filter((c) => c === 'xadd')).toHaveLength(2);
    expect(inside).toContain('set');
    expect(commands.slice(0, multi).concat(commands.slice(exec + 1))).not.toContain('xadd');
  });
});
