import { Redis } from 'ioredis';
import { PdpError } from '../../src/errors';
import { recordKey } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory-store';
import { RedisStore } from '../../src/store/redis-store';
import type { SignalStore } from '../../src/store/types';
import { redisStore, silentLogger } from '../helpers/app';
import { RedisClusterProcess } from '../helpers/redis-cluster';
import { RedisProcess } from '../helpers/redis-server';

const REF = { kind: 'grants:shared', id: 'shared' } as const;
const audit = { actor: 'alice', at: Date.parse('2026-11-27T12:00:00Z'), changes: [] };

describe('SignalStore.transact', () => {
  let redis: RedisProcess;
  let store: RedisStore;
  let raw: Redis;
  beforeAll(async () => {
    redis = await RedisProcess.start();
    store = await redisStore(redis.url);
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    raw.disconnect();
    await store.close();
    await redis.stop();
  });

  it('reads again and rebuilds when a watched key changes before the write (Redis)', async () => {
    const key = recordKey('tx', REF.kind, REF.id);
    await raw.set(key, JSON.stringify({ entitlements: ['a'] }));
    const seen: unknown[] = [];
    const result = await store.transact('tx', [REF], (values) => {
      seen.push(values[0]);
      if (seen.length === 1) void raw.set(key, JSON.stringify({ entitlements: ['a', 'b'] }));
      return { ops: [{ ...REF, value: { entitlements: ['c'] } }], audit, result: seen.length };
    });
    // The first build raced an outside write: its EXEC was refused and the second saw the change.
    expect(seen).toEqual([{ entitlements: ['a'] }, { entitlements: ['a', 'b'] }]);
    expect(result).toBe(2);
    expect(JSON.parse((await raw.get(key)) ?? 'null')).toEqual({ entitlements: ['c'] });
  });

  it.each<[string, () => SignalStore]>([
    ['redis', () => store],
    ['memory', () => new MemoryStore()],
  ])('throws what build throws and writes nothing (%s)', async (_, of) => {
    const s = of();
    await expect(
      s.transact('tx2', [REF], () => {
        throw new PdpError('assignment_state_conflict', 'no');
      }),
    ).rejects.toMatchObject({ code: 'assignment_state_conflict' });
    expect(await s.get(REF.kind, 'tx2', REF.id)).toBeNull();
    await s.transact('tx2', [REF], () => ({ ops: [{ ...REF, value: { entitlements: [] } }], result: null }));
    expect(await s.get(REF.kind, 'tx2', REF.id)).toEqual({ entitlements: [] });
  });
});

describe('SignalStore.transact on Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  let store: RedisStore;
  beforeAll(async () => {
    cluster = await RedisClusterProcess.start(3);
    store = await RedisStore.connect(
      {
        redisUrl: null,
        redisSentinels: [],
        redisSentinelMaster: null,
        redisClusterNodes: cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
        redisPassword: null,
        redisTls: false,
      },
      { cacheTtlMs: 60_000, staleIfErrorMs: 60_000, maxEntries: 1000, clock: Date.now, logger: silentLogger },
    );
    const deadline = Date.now() + 10_000;
    while (!(await store.health()).reachable) {
      if (Date.now() > deadline) throw new Error('the cluster client did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);
  afterAll(async () => {
    await store.close();
    await cluster.stop();
  });

  it('guards and writes a tenant’s keys, with its trail, in the tenant’s slot', async () => {
    for (const tenant of ['t-a', 't-b', 't-c']) {
      const n = await store.transact(tenant, [REF, { kind: 'assignment', id: 'asg-1' }], (values) => ({
        ops: [{ ...REF, value: { entitlements: [values.length] } }],
        audit: {
          ...audit,
          changes: [
            { target: { type: 'x', id: '1' }, action: 'update', agents: ['agt'], before: null, after: 1 },
          ],
        },
        result: values.length,
      }));
      expect(n).toBe(2);
      expect(await store.get(REF.kind, tenant, REF.id)).toEqual({ entitlements: [2] });
      expect((await store.trail(tenant, { agentId: 'agt', limit: 10 })).map((e) => e.actor)).toEqual([
        'alice',
      ]);
    }
    // Each transaction opens its own Cluster connection (WATCH is per connection), whose slot
    // discovery takes seconds on a busy machine: the same allowance as test/integration/redis-cluster.
  }, 90_000);
});
