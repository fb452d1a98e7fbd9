import { Redis } from 'ioredis';
import { recordKey } from '../../src/store/keys';
import type { RedisStore } from '../../src/store/redis-store';
import { TestClock, redisStore } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const agent = { id: 'agt-1', blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'], attributes: {} };
const blueprint = { id: 'bp-1', enabled: true, permissions: { 'api://x': ['x.read'] }, attributes: {} };

async function commandCalls(admin: Redis, command: string): Promise<number> {
  const info = await admin.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match === null ? 0 : Number(match[1]);
}

async function until(predicate: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await predicate()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe('RedisStore against a real redis-server', () => {
  let redis: RedisProcess;
  let admin: Redis;
  const stores: RedisStore[] = [];
  const open = async (opts: Parameters<typeof redisStore>[1] = {}) => {
    const s = await redisStore(redis.url, opts);
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    redis = await RedisProcess.start();
    admin = new Redis(redis.url);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await admin.flushall();
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  it('stores records under hash-tagged keys and reads a decision in one MGET', async () => {
    const store = await open();
    await store.put('agent', 'acme', 'agt-1', agent);
    await store.put('blueprint', 'acme', 'bp-1', blueprint);
    await store.put('risk:agent', 'acme', 'agt-1', { level: 'medium' });
    expect(await admin.get('pdp:{acme}:agent:agt-1')).toBe(JSON.stringify(agent));

    const before = await commandCalls(admin, 'mget');
    const snapshot = await store.readSignals({
      tenant: 'acme',
      agentId: 'agt-1',
      userId: 'u-1',
      blueprintHint: 'bp-1',
    });
    expect(await commandCalls(admin, 'mget')).toBe(before + 1);
    expect(snapshot).toEqual({
      agent,
      blueprint,
      agentRisk: { level: 'medium' },
      userRisk: null,
      revocation: null,
      degraded: false,
      unavailable: false,
    });
    // Warm cache: no round trip at all.
    await store.readSignals({ tenant: 'acme', agentId: 'agt-1', userId: 'u-1', blueprintHint: 'bp-1' });
    expect(await commandCalls(admin, 'mget')).toBe(before + 1);
  });

  it('resolves the blueprint from the agent record when the caller names none', async () => {
    const store = await open();
    await store.put('agent', 'acme', 'agt-1', agent);
    await store.put('blueprint', 'acme', 'bp-1', blueprint);
    const snapshot = await store.readSignals({ tenant: 'acme', agentId: 'agt-1' });
    expect(snapshot.blueprint).toEqual(blueprint);
  });

  it('evicts on another replica within 100 ms of a write', async () => {
    const a = await open({ cacheTtlMs: 60_000 });
    const b = await open({ cacheTtlMs: 60_000 });
    await a.put('agent', 'acme', 'agt-1', agent);
    expect((await b.readSignals({ tenant: 'acme', agentId: 'agt-1' })).agentRisk).toBeNull();
    await a.put('risk:agent', 'acme', 'agt-1', { level: 'high' });
    const elapsed = await until(
      async () => (await b.readSignals({ tenant: 'acme', agentId: 'agt-1' })).agentRisk?.level === 'high',
      100,
    );
    expect(elapsed).toBeLessThan(100);
  });

  it('serves stale values marked degraded during an outage, then fails closed, then recovers', async () => {
    const clock = new TestClock();
    const store = await open({ clock: clock.now, cacheTtlMs: 1000, staleIfErrorMs: 60_000 });
    await store.put('agent', 'acme', 'agt-1', agent);
    await store.put('blueprint', 'acme', 'bp-1', blueprint);
    const q = { tenant: 'acme', agentId: 'agt-1', blueprintHint: 'bp-1' };
    expect((await store.readSignals(q)).degraded).toBe(false);

    await redis.stop();
    clock.advance(5_000); // past the TTL, inside the stale window
    const stale = await store.readSignals(q);
    expect(stale).toMatchObject({ agent, blueprint, degraded: true, unavailable: false });
    // A key never cached cannot be served at all.
    expect((await store.readSignals({ tenant: 'acme', agentId: 'agt-unknown' })).unavailable).toBe(true);

    clock.advance(60_000); // past the stale window
    expect(await store.readSignals(q)).toMatchObject({ agent: null, unavailable: true });
    await expect(store.put('agent', 'acme', 'agt-2', agent)).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    expect((await store.health()).reachable).toBe(false);

    await redis.resume();
    await until(async () => (await store.health()).reachable, 5000);
    // The restarted server lost everything (no persistence): the store reads the truth again.
    expect(await store.readSignals(q)).toMatchObject({ agent: null, degraded: false, unavailable: false });
    await store.put('agent', 'acme', 'agt-1', agent);
    expect((await store.readSignals(q)).agent).toEqual(agent);
  });

  it('fails closed on a corrupt value written around the API', async () => {
    const store = await open();
    await admin.set(recordKey('acme', 'agent', 'agt-1'), '{not json');
    expect((await store.readSignals({ tenant: 'acme', agentId: 'agt-1' })).unavailable).toBe(true);
  });

  it('deletes and reports whether anything was there', async () => {
    const store = await open();
    await store.put('risk:user', 'acme', 'u-1', { level: 'low' });
    expect(await store.get('risk:user', 'acme', 'u-1')).toEqual({ level: 'low' });
    expect(await store.delete('risk:user', 'acme', 'u-1')).toBe(true);
    expect(await store.delete('risk:user', 'acme', 'u-1')).toBe(false);
    expect(await store.get('risk:user', 'acme', 'u-1')).toBeNull();
  });
});
