import { Cluster } from 'ioredis';
import request from 'supertest';
import { RedisStore } from '../../src/store/redis-store';
import { decideBody, makeApp, makeEngine, silentLogger, seeded, type TestApp } from '../helpers/app';
import { RedisClusterProcess } from '../helpers/redis-cluster';

jest.setTimeout(60_000);

describe('a real 3-master Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    cluster = await RedisClusterProcess.start(3);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.store.close()));
    await cluster.stop();
  });

  async function replica(): Promise<TestApp> {
    const store = await RedisStore.connect(cluster.topology(), {
      cacheTtlMs: 60_000,
      staleIfErrorMs: 60_000,
      maxEntries: 1000,
      clock: Date.now,
      logger: silentLogger,
    });
    const app = await makeApp({ store, engine: await makeEngine() });
    apps.push(app);
    // The cluster client discovers the slot map after connecting: wait until commands go through.
    const deadline = Date.now() + 10_000;
    while (!(await store.health()).reachable) {
      if (Date.now() > deadline) throw new Error('the cluster client did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
    return app;
  }

  it('serves decisions for tenants spread over the slots, each in one MGET on its hash tag', async () => {
    const a = await replica();
    await seeded(a.store);
    // Several tenants land on different masters; each tenant's keys share one slot.
    const tenants = ['t-alpha', 't-bravo', 't-charlie', 't-delta', 't-echo', 't-foxtrot'];
    const nodes = new Cluster(
      cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { commandTimeout: 2000 } },
    );
    const slotOwners = new Set<string>();
    for (const tenant of tenants) {
      const bp = { enabled: true, permissions: { 'api://payments': ['payments.read'] } };
      await request(a.api).put(`/v1/tenants/${tenant}/blueprints/bp-1`).send(bp).expect(200);
      const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
      await request(a.api).put(`/v1/tenants/${tenant}/agents/agt-1`).send(agent).expect(200);
      const out = await request(a.api)
        .post('/v1/decide')
        .send({
          tenant,
          flow: 'autonomous',
          agent_id: 'agt-1',
          blueprint_id: 'bp-1',
          resource: 'api://payments',
          scopes: ['payments.read'],
        })
        .expect(200);
      expect(out.body.decision).toBe('allow');
      const slot = Number(await nodes.call('CLUSTER', 'KEYSLOT', `pdp:{${tenant}}:agent:agt-1`));
      expect(Number(await nodes.call('CLUSTER', 'KEYSLOT', `pdp:{${tenant}}:risk:agent:agt-1`))).toBe(slot);
      const shards = (await nodes.call('CLUSTER', 'SHARDS')) as unknown[];
      slotOwners.add(
        String(
          shards.findIndex((s) => {
            const slots = (s as unknown[])[1] as number[];
            for (let i = 0; i < slots.length; i += 2)
              if (slot >= slots[i]! && slot <= slots[i + 1]!) return true;
            return false;
          }),
        ),
      );
    }
    nodes.disconnect();
    expect(slotOwners.size).toBeGreaterThan(1);
    // The README example works on the cluster too.
    const readme = await request(a.api)
      .post('/v1/decide')
      .send(decideBody({ client: { ip: '198.51.100.7' } }))
      .expect(200);
    expect(readme.body.decision).toBe('allow');
  });

  it('propagates a write to the other replica through pdp:invalidate within 100 ms', async () => {
    const a = await replica();
    const b = await replica();
    await seeded(a.store);
    const body = decideBody({ client: { ip: '198.51.100.7' } });
    expect((await request(b.api).post('/v1/decide').send(body).expect(200)).body.decision).toBe('allow');
    await request(a.api)
      .put('/v1/tenants/default/signals/agents/agt-7f3a/risk')
      .send({ level: 'high' })
      .expect(200);
    const written = performance.now();
    let decision = 'allow';
    while (decision === 'allow' && performance.now() - written < 1000) {
      decision = (await request(b.api).post('/v1/decide').send(body)).body.decision as string;
    }
    expect(decision).toBe('deny');
    expect(performance.now() - written).toBeLessThan(100);
  });
});
