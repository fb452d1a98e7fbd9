import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { RedisTopology } from '../../src/store/redis-connection';
import { freePort } from './redis-server';

/**
 * A real Redis Cluster of `masters` redis-server processes on loopback, created with
 * `redis-cli --cluster create`, torn down with its files.
 */
export class RedisClusterProcess {
  private constructor(
    readonly ports: number[],
    private readonly children: ChildProcess[],
    private readonly dir: string,
  ) {}

  static async start(masters = 3): Promise<RedisClusterProcess> {
    if (spawnSync('redis-cli', ['--version']).status !== 0) {
      throw new Error('redis-cli is not installed: the cluster test needs it (apt-get install redis-tools)');
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-redis-cluster-'));
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) ports.push(await freePort());
    const children = ports.map((port) =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      ),
    );
    const cluster = new RedisClusterProcess(ports, children, dir);
    try {
      for (const port of ports) {
        const probe = new Redis({
          port,
          host: '127.0.0.1',
          lazyConnect: true,
          retryStrategy: () => 50,
          maxRetriesPerRequest: null,
        });
        await probe.connect().catch(() => undefined);
        await probe.ping();
        probe.disconnect();
      }
      const create = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...ports.map((p) => `127.0.0.1:${p}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (create.status !== 0)
        throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
      const deadline = Date.now() + 20_000;
      for (;;) {
        const states = ports.map(
          (p) => spawnSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout,
        );
        // Every node must see the whole cluster, not only its own slots, before clients connect.
        const settled = states.every(
          (s) =>
            s.includes('cluster_state:ok') &&
            s.includes('cluster_slots_ok:16384') &&
            s.includes(`cluster_known_nodes:${masters}`),
        );
        if (settled) break;
        if (Date.now() > deadline)
          throw new Error(`cluster did not reach cluster_state:ok: ${states.join(' | ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** The store's settings for this cluster, seeded from every node. */
  topology(): RedisTopology {
    return {
      redisUrl: null,
      redisSentinels: [],
      redisSentinelMaster: null,
      redisClusterNodes: this.ports.map((port) => ({ host: '127.0.0.1', port })),
      redisPassword: null,
      redisTls: false,
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
