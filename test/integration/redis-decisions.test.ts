import { Redis } from 'ioredis';
import request from 'supertest';
import type { DecideResponse } from '../../src/decision/service';
import { TestClock, decideBody, makeApp, makeEngine, redisStore, seeded, type TestApp } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const CORP = { ip: '198.51.100.7' };

describe('decisions over a real Redis shared by two replicas', () => {
  let redis: RedisProcess;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.store.close()));
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
  });
  afterAll(async () => {
    await redis.stop();
  });

  async function replica(clock?: TestClock, staleIfErrorMs = 300_000): Promise<TestApp> {
    const now = clock?.now ?? Date.now;
    const store = await redisStore(redis.url, { clock: now, cacheTtlMs: 60_000, staleIfErrorMs });
    const app = await makeApp({ store, clock: now, engine: await makeEngine({ clock: now }) });
    apps.push(app);
    return app;
  }

  it("a risk raised through instance A's API changes instance B's next decision within 100 ms", async () => {
    const a = await replica();
    const b = await replica();
    await seeded(a.store);
    const body = decideBody({ client: CORP });
    // Warm B's cache with the "no risk" answer; its TTL (60 s) is far longer than the bound tested.
    expect((await request(b.api).post('/v1/decide').send(body).expect(200)).body.decision).toBe('allow');

    await request(a.api)
      .put('/v1/tenants/default/signals/agents/agt-7f3a/risk')
      .send({ level: 'high' })
      .expect(200);
    const written = performance.now();
    let out: DecideResponse;
    for (;;) {
      out = (await request(b.api).post('/v1/decide').send(body)).body as DecideResponse;
      if (out.decision === 'deny' || performance.now() - written > 1000) break;
    }
    const elapsed = performance.now() - written;
    expect(out.decision).toBe('deny');
    expect(out.reasons.map((r) => r.code)).toContain('ca_block');
    expect(elapsed).toBeLessThan(100);
  });

  it('Redis stopped: degraded inside the stale window, signals_unavailable after it, normal again when it returns', async () => {
    const clock = new TestClock(Date.now());
    const store = await redisStore(redis.url, { clock: clock.now, cacheTtlMs: 2000, staleIfErrorMs: 30_000 });
    const app = await makeApp({ store, clock: clock.now, engine: await makeEngine({ clock: clock.now }) });
    apps.push(app);
    await seeded(app.store);
    const body = decideBody({ client: CORP });
    const decide = async () => {
      const res = await request(app.api).post('/v1/decide').send(body);
      expect(res.status).toBe(200);
      return res.body as DecideResponse;
    };
    expect(await decide()).toMatchObject({ decision: 'allow', signals: { degraded: false } });

    await redis.stop();
    clock.advance(2_500); // past the 2 s TTL, inside the 30 s stale-if-error window
    expect(await decide()).toMatchObject({ decision: 'allow', signals: { degraded: true } });
    clock.advance(30_000); // past the window
    const closed = await decide();
    expect(closed).toMatchObject({ decision: 'deny', grant: null });
    expect(closed.reasons).toEqual([expect.objectContaining({ code: 'signals_unavailable' })]);
    // Still ready: this replica answers every decision as designed; the store is reported apart.
    const ready = await request(app.admin).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, store: { kind: 'redis', reachable: false } });
    // Writes fail with a clear 503, never a silent loss.
    const write = await request(app.api)
      .put('/v1/tenants/default/signals/users/u-1/risk')
      .send({ level: 'low' });
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('store_unavailable');

    await redis.resume();
    const deadline = Date.now() + 5000;
    while (!(await app.store.health()).reachable && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    expect((await request(app.admin).get('/readyz').expect(200)).body.store).toMatchObject({
      reachable: true,
      breaker: 'closed',
    });
    await seeded(app.store); // the restarted Redis kept nothing (no persistence here)
    expect(await decide()).toMatchObject({ decision: 'allow', signals: { degraded: false } });
  });
});
