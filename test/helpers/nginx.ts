import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './app';
import { freePort } from './redis-server';

export const NGINX_EXAMPLE = path.join(ROOT, 'examples/gateways/nginx.conf');
/** NGINX with njs in front of an MCP server (reads agent-pdp.js from its own directory). */
export const NGINX_MCP_EXAMPLE = path.join(ROOT, 'examples/mcp/nginx.conf');

export function nginxBinary(): string {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  throw new Error(
    'nginx is not installed: this test needs a real NGINX with auth_request (apt-get install nginx)',
  );
}

/** `from` must occur in `text` exactly once: a changed example must fail the test, not skip it. */
function replaceOnce(text: string, from: string, to: string, file = NGINX_EXAMPLE): string {
  const at = text.indexOf(from);
  if (at === -1 || text.indexOf(from, at + 1) !== -1)
    throw new Error(`${file} no longer holds exactly one "${from}"`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** A real NGINX running the shipped example (examples/gateways/nginx.conf), only its ports changed. */
export class NginxGateway {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {}

  /**
   * `example`: the configuration to run (default examples/gateways/nginx.conf); the `.js` files
   * beside it are copied beside it. `port`: the port to listen on (default: a free one).
   */
  static async start(opts: {
    pdpPort: number;
    upstreamPort: number;
    example?: string;
    port?: number;
  }): Promise<NginxGateway> {
    const bin = nginxBinary();
    const example = opts.example ?? NGINX_EXAMPLE;
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-nginx-'));
    mkdirSync(path.join(dir, 'logs'));
    // NGINX workers drop to nobody when started as root: they must reach the temp directories.
    chmodSync(dir, 0o755);
    chmodSync(path.join(dir, 'logs'), 0o777);
    const port = opts.port ?? (await freePort());
    let conf = readFileSync(example, 'utf8');
    conf = replaceOnce(conf, 'server 127.0.0.1:8181;', `server 127.0.0.1:${opts.pdpPort};`, example);
    conf = replaceOnce(conf, 'server 127.0.0.1:9000;', `server 127.0.0.1:${opts.upstreamPort};`, example);
    conf = replaceOnce(conf, 'listen 127.0.0.1:8000;', `listen 127.0.0.1:${port};`, example);
    for (const file of readdirSync(path.dirname(example))) {
      if (file.endsWith('.js')) copyFileSync(path.join(path.dirname(example), file), path.join(dir, file));
    }
    writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const child = spawn(bin, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'inherit' });
    const gateway = new NginxGateway(child, port, dir);
    await gateway.waitUntilAnswering();
    return gateway;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async waitUntilAnswering(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null)
        throw new Error(`nginx exited ${this.child.exitCode}: ${this.errorLog()}`);
      const answered = await fetch(`${this.base}/`).then(
        () => true,
        () => false,
      );
      if (answered) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nginx did not answer on ${this.base}: ${this.errorLog()}`);
  }

  errorLog(): string {
    try {
      return readFileSync(path.join(this.dir, 'logs/error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Graceful stop (SIGQUIT), waiting for the master to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGQUIT');
    await exited;
  }
}
