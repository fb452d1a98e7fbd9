import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

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

/** A child process the benchmark owns: started, waited for, always killed at the end. */
export class Proc {
  output = '';
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (c: Buffer) => {
      this.output = (this.output + c.toString()).slice(-4000);
    });
    child.stderr?.on('data', (c: Buffer) => {
      this.output = (this.output + c.toString()).slice(-4000);
    });
  }

  static start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    return new Proc(
      name,
      spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  }

  /** Polls `url` until it answers `expect` (default: any 2xx). */
  async ready(url: string, timeoutMs = 30_000, init?: RequestInit): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null)
        throw new Error(`${this.name} exited ${this.child.exitCode}: ${this.output}`);
      const ok = await fetch(url, init).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready at ${url}: ${this.output}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
