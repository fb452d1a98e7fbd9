import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import request from 'supertest';
import { RedisStore } from '../../src/store/redis-store';
import { decideBody, makeApp, makeEngine, seeded, silentLogger } from '../helpers/app';
import { RedisProcess, freePort } from '../helpers/redis-server';

describe('Redis Sentinel', () => {
  let master: RedisProcess;
  let sentinel: ChildProcess;
  let sentinelPort: number;

  beforeAll(async () => {
    master = await RedisProcess.start();
    sentinelPort = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor pdp-master 127.0.0.1 ${master.port} 1`,
        '',
      ].join('\n'),
    );
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    // Wait until the sentinel knows the master.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const known = await fetchMaster(sentinelPort).catch(() => null);
      if (known !== null) break;
      if (Date.now() > deadline) throw new Error('sentinel did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(async () => {
    const exited = once(sentinel, 'exit');
    sentinel.kill('SIGKILL');
    await exited;
    await master.stop();
  });

  it('finds the master through the sentinel and decides', async () => {
    const store = await RedisStore.connect(
      {
        redisUrl: null,
        redisSentinels: [{ host: '127.0.0.1', port: sentinelPort }],
        redisSentinelMaster: 'pdp-master',
        redisClusterNodes: [],
        redisPassword: null,
        redisTls: false,
      },
      { cacheTtlMs: 2000, staleIfErrorMs: 60_000, maxEntries: 1000, clock: Date.now, logger: silentLogger },
    );
    try {
      const app = await makeApp({ store, engine: await makeEngine() });
      await seeded(store);
      const out = await request(app.api)
        .post('/v1/decide')
        .send(decideBody({ client: { ip: '198.51.100.7' } }))
        .expect(200);
      expect(out.body.decision).toBe('allow');
      expect((await store.health()).reachable).toBe(true);
    } finally {
      await store.close();
    }
  });
});

async function fetchMaster(port: number): Promise<string | null> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await client.connect();
    const addr = (await client.call('SENTINEL', 'get-master-addr-by-name', 'pdp-master')) as string[] | null;
    return addr === null ? null : addr.join(':');
  } finally {
    client.disconnect();
  }
}
