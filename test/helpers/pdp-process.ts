import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { ROOT } from './app';
import { freePort } from './redis-server';

export const SERVER = path.join(ROOT, 'dist/src/server.js');

export interface AdminRequest {
  headers?: Record<string, string>;
  /** Client side of TLS: the CA to verify the server with (unverified without it), a client certificate. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** The real service process (`node dist/src/server.js`), as `npm start` runs it. */
export class PdpProcess {
  output = '';
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly adminPort: number,
    /** Started with PDP_TLS_CERT: both ports speak HTTPS. */
    readonly tls: boolean,
  ) {}

  /** Waits until /readyz is 200, or with `waitFor: 'healthz'` only until the process is up (not ready is fine). */
  static async start(
    env: Record<string, string> = {},
    opts: { waitFor?: 'readyz' | 'healthz' } = {},
  ): Promise<PdpProcess> {
    if (!existsSync(SERVER))
      throw new Error(`${SERVER} is missing: run "npm run build" (npm test does it first)`);
    // A port the kernel just called free can be taken (by another test's outgoing connection)
    // before the process binds it: try again on new ports, never on a port another process holds.
    for (let attempt = 1; ; attempt++) {
      try {
        return await PdpProcess.startOnce(env, opts);
      } catch (err) {
        if (!(err instanceof PortTaken) || attempt === 3) throw err;
      }
    }
  }

  private static async startOnce(
    env: Record<string, string>,
    opts: { waitFor?: 'readyz' | 'healthz' },
  ): Promise<PdpProcess> {
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn(process.execPath, [SERVER], {
      env: {
        PATH: process.env['PATH'] ?? '',
        PDP_PORT: String(port),
        PDP_ADMIN_PORT: String(adminPort),
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = new PdpProcess(child, port, adminPort, env['PDP_TLS_CERT'] !== undefined);
    child.stdout.on('data', (c: Buffer) => (p.output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (p.output += c.toString()));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      // A cluster worker that cannot bind exits and is restarted by the primary, which stays up.
      if (p.output.includes('EADDRINUSE')) {
        child.kill('SIGKILL');
        throw new PortTaken(`agent-pdp could not bind its ports: ${p.output}`);
      }
      if (child.exitCode !== null) throw new Error(`agent-pdp exited ${child.exitCode}: ${p.output}`);
      const ready = await p.adminGet(`/${opts.waitFor ?? 'readyz'}`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) return p;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(
      `agent-pdp was not ${opts.waitFor === 'healthz' ? 'up' : 'ready'} within 20 s: ${p.output}`,
    );
  }

  url(pathname: string): string {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  adminUrl(pathname: string): string {
    return `http://127.0.0.1:${this.adminPort}${pathname}`;
  }

  /** GET on the admin port, over HTTPS when the process serves TLS (as a kubelet probe: no client certificate). */
  adminGet(pathname: string, opts: AdminRequest = {}): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const options = {
        host: '127.0.0.1',
        port: this.adminPort,
        path: pathname,
        headers: opts.headers ?? {},
        timeout: 5000,
      };
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      };
      const req = this.tls
        ? httpsRequest(
            { ...options, ...opts.tls, ...(opts.tls?.ca === undefined && { rejectUnauthorized: false }) },
            onResponse,
          )
        : httpRequest(options, onResponse);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  async post(
    pathname: string,
    body: unknown,
    method = 'POST',
  ): Promise<{
    status: number;
    body: any;
  }> {
    const res = await fetch(this.url(pathname), {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      // A request caught on a killed worker's connection must fail, not hang.
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  }

  /** SIGTERM and wait; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    return code;
  }
}

class PortTaken extends Error {}
