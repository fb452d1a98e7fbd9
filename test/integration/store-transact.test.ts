import { spawnSync } from 'node:child_process';
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
const storeOptions = {
  cacheTtlMs: 60_000,
  staleIfErrorMs: 60_000,
  maxEntries: 1000,
  clock: Date.now,
  logger: silentLogger,
};
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

  it('runs transactions one at a time on one connection of their own, kept between them', async () => {
    const connections = async (): Promise<number> =>
      Number(/total_connections_received:(\d+)/.exec(await raw.info('stats'))?.[1]);
    await store.transact('tx3', [REF], () => ({ ops: [], result: null }));
    const before = await connections();
    // Concurrent read-modify-writes of one record: none is lost, none exhausts its retries.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.transact('tx3', [REF], (values) => {
          const seen = (values[0] as { entitlements: string[] } | null)?.entitlements ?? [];
          return {
            ops: [{ ...REF, value: { entitlements: [...seen, `e${String(i)}`] } }],
            result: seen.length,
          };
        }),
      ),
    );
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(
      ((await store.get(REF.kind, 'tx3', REF.id)) as unknown as { entitlements: string[] }).entitlements,
    ).toHaveLength(20);
    expect((await connections()) - before).toBe(0);
  });

  it('does not carry a refused transaction’s WATCH into the next one', async () => {
    const other = { kind: 'assignment', id: 'asg-w' } as const;
    await expect(
      store.transact('tx4', [other], () => {
        throw new PdpError('assignment_state_conflict', 'no');
      }),
    ).rejects.toMatchObject({ code: 'assignment_state_conflict' });
    // The refused one watched `other`; a change to it must not abort (and retry) the next one.
    await raw.set(recordKey('tx4', other.kind, other.id), JSON.stringify({ state: 'changed' }));
    let builds = 0;
    await store.transact('tx4', [REF], () => {
      builds++;
      return { ops: [{ ...REF, value: { entitlements: [] } }], result: null };
    });
    expect(builds).toBe(1);
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
    store = await RedisStore.connect(cluster.topology(), storeOptions);
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
  }, 30_000);

  it('answers 503 within its connect budget when the cluster is down, and recovers with it', async () => {
    // Every node gives up one slot of its own: each reports cluster_state:fail, so a new client's
    // ready check fails after slot discovery (ioredis's connect() then never settles).
    const owned = cluster.ports.map((port) => {
      const nodes = redisCli(port, 'cluster', 'nodes');
      const mine = nodes.split('\n').find((line) => line.includes('myself')) ?? '';
      const first = /\s(\d+)(?:-\d+)?$/.exec(mine.trim())?.[1];
      if (first === undefined) throw new Error(`no slots on ${String(port)}: ${mine}`);
      return { port, slot: first };
    });
    const fresh = await RedisStore.connect(cluster.topology(), storeOptions);
    try {
      for (const { port, slot } of owned) expect(redisCli(port, 'cluster', 'delslots', slot)).toBe('OK');
      await waitFor(() =>
        cluster.ports.every((p) => redisCli(p, 'cluster', 'info').includes('cluster_state:fail')),
      );
      const started = Date.now();
      await expect(
        fresh.transact('t-down', [REF], () => ({
          ops: [{ ...REF, value: { entitlements: [] } }],
          result: 1,
        })),
      ).rejects.toMatchObject({ code: 'store_unavailable' });
      expect(Date.now() - started).toBeLessThan(10_000);

      for (const { port, slot } of owned) expect(redisCli(port, 'cluster', 'addslots', slot)).toBe('OK');
      await waitFor(() =>
        cluster.ports.every((p) => redisCli(p, 'cluster', 'info').includes('cluster_state:ok')),
      );
      const n = await fresh.transact('t-down', [REF], () => ({
        ops: [{ ...REF, value: { entitlements: ['back'] } }],
        result: 2,
      }));
      expect(n).toBe(2);
      expect(await fresh.get(REF.kind, 't-down', REF.id)).toEqual({ entitlements: ['back'] });
    } finally {
      await fresh.close();
    }
  }, 60_000);
});

function redisCli(port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
}

async function waitFor(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('the cluster did not reach the expected state');
    await new Promise((r) => setTimeout(r, 100));
  }
}
