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

/**
 * Records every command a client sends (MONITOR), not those a script runs inside Redis: what counts
 * for a decision's latency is round trips. The prober's idle PINGs are left out.
 */
async function roundTrips(url: string): Promise<{ commands: string[][]; stop: () => void }> {
  const client = new Redis(url);
  const monitor = await client.monitor();
  const commands: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua' && args[0]?.toLowerCase() !== 'ping') commands.push(args);
  });
  return {
    commands,
    stop: () => {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
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
    // One script call: its MGET of the keys, then one MGET of the blueprint and the blueprint's risk.
    expect(await commandCalls(admin, 'mget')).toBe(before + 2);
    expect(snapshot).toEqual({
      agent,
      blueprint,
      agentRisk: { level: 'medium' },
      blueprintRisk: null,
      agentUser: null,
      agentUserRisk: null,
      resource: null,
      resourceAgent: null,
      userRisk: null,
      revocation: null,
      grants: [],
      lifecycle: null,
      activity: null,
      degraded: false,
      unavailable: false,
    });
    // Warm cache: no round trip at all.
    await store.readSignals({ tenant: 'acme', agentId: 'agt-1', userId: 'u-1', blueprintHint: 'bp-1' });
    expect(await commandCalls(admin, 'mget')).toBe(before + 2);
  });

  it('resolves the blueprint from the agent record when the caller names none', async () => {
    const store = await open();
    await store.put('agent', 'acme', 'agt-1', agent);
    await store.put('blueprint', 'acme', 'bp-1', blueprint);
    const snapshot = await store.readSignals({ tenant: 'acme', agentId: 'agt-1' });
    expect(snapshot.blueprint).toEqual(blueprint);
  });

  it("reads a cold decision in one round trip, the agent's blueprint included", async () => {
    const clock = new TestClock();
    const store = await open({ clock: clock.now, cacheTtlMs: 1000 });
    await store.put('agent', 'acme', 'agt-1', agent);
    await store.put('blueprint', 'acme', 'bp-1', blueprint);
    await store.put('risk:agent', 'acme', 'agt-1', { level: 'low' });
    await store.put('agent', 'acme', 'agt-2', { ...agent, id: 'agt-2', blueprint_id: 'bp-2' });
    await store.put('blueprint', 'acme', 'bp-2', { ...blueprint, id: 'bp-2' });
    const monitor = await roundTrips(redis.url);
    try {
      // No blueprint named by the caller: it is only known once the agent is read.
      const cold = await store.readSignals({ tenant: 'acme', agentId: 'agt-1', userId: 'u-1' });
      expect(cold).toMatchObject({ agent, blueprint, agentRisk: { level: 'low' }, unavailable: false });
      // The caller names another blueprint than the agent's: still one call.
      const other = await store.readSignals({ tenant: 'acme', agentId: 'agt-2', blueprintHint: 'bp-1' });
      expect(other.blueprint).toMatchObject({ id: 'bp-2' });
      await settle();
      expect(monitor.commands.map((c) => c[0]?.toLowerCase())).toEqual([
        expect.stringMatching(/^eval(sha)?$/),
        expect.stringMatching(/^eval(sha)?$/),
      ]);

      // Agent still fresh, its blueprint evicted: the blueprint joins the one MGET.
      monitor.commands.length = 0;
      store.evict(recordKey('acme', 'blueprint', 'bp-1'));
      store.evict(recordKey('acme', 'risk:agent', 'agt-1'));
      expect((await store.readSignals({ tenant: 'acme', agentId: 'agt-1' })).blueprint).toEqual(blueprint);
      // Everything fresh: no call at all.
      await store.readSignals({ tenant: 'acme', agentId: 'agt-1' });
      await settle();
      expect(monitor.commands).toEqual([
        ['mget', recordKey('acme', 'risk:agent', 'agt-1'), recordKey('acme', 'blueprint', 'bp-1')],
      ]);

      // Past the TTL the whole decision is cold again: one call.
      monitor.commands.length = 0;
      clock.advance(1500);
      expect((await store.readSignals({ tenant: 'acme', agentId: 'agt-1' })).blueprint).toEqual(blueprint);
      await settle();
      expect(monitor.commands).toHaveLength(1);
    } finally {
      monitor.stop();
    }
  });

  it('treats what the signals script returns as hostile', async () => {
    const store = await open({ cacheTtlMs: 0 });
    const key = recordKey('acme', 'agent', 'agt-x');
    await admin.set(recordKey('acme', 'blueprint', 'bp-1'), JSON.stringify(blueprint));
    await admin.hset(recordKey('acme', 'blueprint', 'bp-hash'), 'enabled', 'true');
    await admin.set(recordKey('acme', 'blueprint', 'bp-bad'), '{"enabled": tru');
    const read = async (raw: string) => {
      await admin.set(key, raw);
      return store.readSignals({ tenant: 'acme', agentId: 'agt-x' });
    };
    // Not a JSON object at all: fails closed.
    for (const raw of ['{not json', '[1,2]', '"bp-1"', '42', 'null', '']) {
      expect(await read(raw)).toMatchObject({ agent: null, blueprint: null, unavailable: true });
    }
    // An object with no usable blueprint id: no blueprint, which the policy denies.
    for (const raw of [
      '{"blueprint_id": 5}',
      '{"blueprint_id": null}',
      '{"__proto__": {"blueprint_id": "bp-1"}}',
    ]) {
      expect(await read(raw)).toMatchObject({ blueprint: null, unavailable: false });
    }
    // A blueprint key of the wrong type reads as absent; a corrupt blueprint fails closed.
    expect(await read('{"blueprint_id": "bp-hash"}')).toMatchObject({ blueprint: null, unavailable: false });
    expect(await read('{"blueprint_id": "bp-bad"}')).toMatchObject({ unavailable: true });
    // Duplicate keys: whatever is served is the blueprint JSON.parse reads from the agent, never another.
    const dup = await read('{"blueprint_id": "bp-nope", "blueprint_id": "bp-1"}');
    expect(dup.unavailable || (dup.agent?.blueprint_id === 'bp-1' && dup.blueprint?.id === 'bp-1')).toBe(
      true,
    );
    // Ids that Lua and JavaScript may decode differently: never a mismatched blueprint.
    for (const id of ['\\ud800', 'bp-1\\u0000', '\\u00e9']) {
      const out = await read(`{"blueprint_id": "${id}"}`);
      if (!out.unavailable) expect(out.blueprint).toBeNull();
    }
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
    // The writes' own invalidations come back through the subscription: a read in flight when
    // they arrive is not cached, so let them arrive before warming the cache.
    await settle();
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

  it('a hung Redis (SIGSTOP): reads keep to the budget, the breaker opens, then closes when it returns', async () => {
    const clock = new TestClock();
    const store = await open({
      clock: clock.now,
      cacheTtlMs: 1000,
      staleIfErrorMs: 60_000,
      readBudgetMs: 50,
      breaker: { threshold: 3, halfOpenMs: 100, halfOpenMaxMs: 400 },
    });
    await store.put('agent', 'acme', 'agt-1', agent);
    await store.put('blueprint', 'acme', 'bp-1', blueprint);
    await settle();
    const q = { tenant: 'acme', agentId: 'agt-1' };
    expect(await store.readSignals(q)).toMatchObject({ agent, blueprint, degraded: false });
    const timed = async (query: typeof q) => {
      const started = performance.now();
      const out = await store.readSignals(query);
      return { out, ms: performance.now() - started };
    };

    redis.pause();
    try {
      clock.advance(5_000); // past the TTL: every read needs Redis
      // Until the breaker opens, a read waits its budget and no more, then serves stale.
      for (let i = 0; i < 3; i++) {
        const { out, ms } = await timed(q);
        expect(out).toMatchObject({ agent, blueprint, degraded: true, unavailable: false });
        expect(ms).toBeLessThan(50 + 40);
      }
      expect(await store.health()).toMatchObject({
        reachable: false,
        breaker: expect.stringMatching(/^(open|half_open)$/),
        last_failure: 'timeout',
      });
      // Open: no store call at all, stale or fail-closed answers in well under a millisecond each.
      const open: number[] = [];
      for (let i = 0; i < 200; i++) {
        const stale = await timed(q);
        expect(stale.out).toMatchObject({ agent, degraded: true });
        const cold = await timed({ tenant: 'acme', agentId: `agt-cold-${i}` });
        expect(cold.out.unavailable).toBe(true);
        open.push(stale.ms, cold.ms);
      }
      open.sort((a, b) => a - b);
      expect(open[Math.floor(open.length * 0.99)]).toBeLessThan(5);
      // Directory calls fail fast with 503 instead of waiting on the hung server.
      const started = performance.now();
      await expect(store.put('agent', 'acme', 'agt-2', agent)).rejects.toMatchObject({
        code: 'store_unavailable',
      });
      expect(performance.now() - started).toBeLessThan(20);
    } finally {
      redis.unpause();
    }
    // A half-open probe finds it back: the breaker closes with no restart and no decision waiting.
    await until(async () => (await store.health()).reachable, 5000);
    expect(await store.health()).toMatchObject({ breaker: 'closed', last_failure: null });
    expect(await store.readSignals(q)).toMatchObject({ agent, blueprint, degraded: false });
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
