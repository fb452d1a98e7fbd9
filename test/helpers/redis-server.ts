import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';

/** A free TCP port on loopback, asked of the kernel. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server did not accept connections on ${port} within ${timeoutMs} ms`);
}

/**
 * A real redis-server process owned by a test: its own port, nothing persisted, stoppable and
 * restartable on the same port to simulate an outage.
 */
export class RedisProcess {
  private child: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<RedisProcess> {
    const check = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    if (check.error !== undefined || check.status !== 0) {
      throw new Error(
        'redis-server is not installed: integration tests need a real Redis (apt-get install redis-server)',
      );
    }
    const r = new RedisProcess(port ?? (await freePort()));
    await r.resume();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port. */
  async resume(): Promise<void> {
    if (this.child !== null) return;
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
      ],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, 5000);
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, as a hung Redis. */
  pause(): void {
    if (this.child === null) throw new Error('redis-server is not running');
    this.child.kill('SIGSTOP');
  }

  /** Lets a paused server go on (SIGCONT). */
  unpause(): void {
    if (this.child === null) throw new Error('redis-server is not running');
    this.child.kill('SIGCONT');
  }

  /** Kills the server (as a crash would), waiting until the port is closed. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    const exited = once(child, 'exit');
    // SIGKILL also ends a paused (SIGSTOPped) server.
    child.kill('SIGKILL');
    await exited;
  }
}
