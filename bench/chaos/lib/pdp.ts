import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { Proc, freePort } from '../../lib/processes';
import { onCleanup } from './cleanup';
import { call, json } from './http';

export const ROOT = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../..' : '../../..',
);
export const SERVER = path.join(ROOT, 'dist/src/server.js');

export interface Readyz {
  ready: boolean;
  revision: string | null;
  store: unknown;
  workers: { pid: number; ready: boolean; draining: boolean; revision: string | null }[];
}

/** The agent the load asks about: allowed payments.read while its signals can be read. */
export const AGENT = { tenant: 'default', agentId: 'agt-chaos', blueprintId: 'bp-chaos' } as const;

export const DECIDE_BODY = JSON.stringify({
  tenant: AGENT.tenant,
  flow: 'autonomous',
  agent_id: AGENT.agentId,
  resource: 'api://payments',
  scopes: ['payments.read'],
  requested_ttl_seconds: 600,
});

/**
 * The real built service (`node dist/src/server.js`) in cluster mode, with a clean environment:
 * only what the scenario sets, so a developer's shell cannot change what is measured.
 */
export class ChaosPdp {
  private constructor(
    readonly proc: Proc,
    readonly port: number,
    readonly adminPort: number,
  ) {}

  static async start(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<ChaosPdp> {
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn(process.execPath, [SERVER], {
      env: {
        PATH: process.env['PATH'] ?? '',
        PDP_HOST: '127.0.0.1',
        PDP_PORT: String(port),
        PDP_ADMIN_PORT: String(adminPort),
        PDP_WORKERS: '2',
        LOG_LEVEL: 'warn',
        PDP_DECISION_LOG: 'off',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pdp = new ChaosPdp(new Proc('agent-pdp', child), port, adminPort);
    const forget = onCleanup(() => pdp.kill());
    child.once('exit', forget);
    try {
      await pdp.proc.ready(pdp.adminUrl('/readyz'), readyTimeoutMs);
    } catch (err) {
      await pdp.kill();
      throw err;
    }
    return pdp;
  }

  get pid(): number {
    return this.proc.child.pid ?? 0;
  }

  /** The primary is still running. */
  get alive(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  url(pathname: string): string {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  adminUrl(pathname: string): string {
    return `http://127.0.0.1:${this.adminPort}${pathname}`;
  }

  async readyz(): Promise<{ status: number; body: Readyz | null }> {
    const answer = await call(this.adminUrl('/readyz'), { timeoutMs: 5000 });
    return { status: answer.status, body: json(answer) as Readyz | null };
  }

  async workerPids(): Promise<number[]> {
    return (await this.readyz()).body?.workers.map((w) => w.pid) ?? [];
  }

  /** Waits until `count` workers are ready, none of them in `exclude`; returns their pids. */
  async waitForWorkers(
    count: number,
    exclude: readonly number[] = [],
    timeoutMs = 30_000,
  ): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const workers = (await this.readyz()).body?.workers ?? [];
      const ready = workers.filter((w) => w.ready && !exclude.includes(w.pid)).map((w) => w.pid);
      if (ready.length >= count) return ready;
      if (!this.alive) throw new Error(`agent-pdp exited: ${this.proc.output}`);
      if (Date.now() > deadline) throw new Error(`${count} ready workers not reached within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Writes the load's blueprint and agent through the directory API (Redis is the shared store),
   * then checks one decision allows. Returns the decisions it made (each one is logged).
   */
  async seed(): Promise<number> {
    const put = async (route: string, body: unknown): Promise<void> => {
      const answer = await call(this.url(`/v1/tenants/${AGENT.tenant}/${route}`), {
        method: 'PUT',
        body: JSON.stringify(body),
      });
      if (answer.status !== 200) throw new Error(`seeding ${route}: ${answer.status} ${answer.text ?? ''}`);
    };
    await put(`blueprints/${AGENT.blueprintId}`, {
      enabled: true,
      permissions: { 'api://payments': ['payments.read'] },
    });
    await put(`agents/${AGENT.agentId}`, {
      blueprint_id: AGENT.blueprintId,
      enabled: true,
      sponsors: ['u-1'],
    });
    const answer = await call(this.url('/v1/decide'), { body: DECIDE_BODY });
    if ((json(answer) as { decision?: string } | null)?.decision !== 'allow') {
      throw new Error(`the seeded agent is not allowed: ${answer.status} ${answer.text ?? ''}`);
    }
    return 1;
  }

  /** Sum of `name` across all label sets in the admin port's Prometheus text, or 0. */
  async metric(name: string, labelFilter = ''): Promise<number> {
    const answer = await call(this.adminUrl('/metrics'), { timeoutMs: 5000 });
    let total = 0;
    for (const line of (answer.text ?? '').split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (labelFilter !== '' && !line.includes(labelFilter)) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
    return total;
  }

  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`); returns the exit code. */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    const child = this.proc.child;
    if (!this.alive) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    return child.exitCode;
  }

  /** Waits for an exit already under way (the primary got SIGTERM). */
  async exited(timeoutMs = 30_000): Promise<number | null> {
    const child = this.proc.child;
    if (!this.alive) return child.exitCode;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await once(child, 'exit');
    clearTimeout(timer);
    return child.exitCode;
  }

  /** Kills the primary and, through it, the workers (they exit when the IPC channel closes). */
  async kill(): Promise<void> {
    const child = this.proc.child;
    if (!this.alive) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
