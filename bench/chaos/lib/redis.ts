import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Proc, freePort } from '../../lib/processes';
import { onCleanup } from './cleanup';

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

/**
 * The real redis-server a scenario breaks. The append-only file is fsynced on every write, so a
 * SIGKILL loses no directory record and a restarted server serves the same agents (as a production
 * Redis with AOF would): recovery then means "decisions allow again", not "the directory is gone".
 */
export class ChaosRedis {
  private proc: Proc | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<ChaosRedis> {
    const check = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (check.error !== undefined || check.status !== 0) {
      throw new Error('redis-server is not installed: the chaos run needs a real Redis');
    }
    const redis = new ChaosRedis(await freePort(), mkdtempSync(path.join(tmpdir(), 'pdp-chaos-redis-')));
    onCleanup(() => redis.stop());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | null {
    return this.proc?.child.pid ?? null;
  }

  /** Starts the server (again, on the same port and data directory) and waits until it accepts. */
  async restart(): Promise<void> {
    if (this.proc !== null) return;
    this.proc = Proc.start('redis', 'redis-server', [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
    ]);
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (this.proc.child.exitCode !== null) throw new Error(`redis-server exited: ${this.proc.output}`);
      if (Date.now() > deadline) throw new Error(`redis-server not accepting on ${this.port}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** A crash: SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (proc === null) return;
    this.proc = null;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    const exited = once(proc.child, 'exit');
    proc.child.kill('SIGCONT');
    proc.child.kill('SIGKILL');
    await exited;
  }

  /** A hang: the process keeps its sockets open but answers nothing. */
  pause(): void {
    this.proc?.child.kill('SIGSTOP');
  }

  unpause(): void {
    this.proc?.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
