import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import { freePort } from './redis-server';

/** `opa run --server` on loopback, for comparing the Go evaluator with the WASM engine. */
export class OpaServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /**
   * The Go evaluator on the Rego sources (not the WASM) with the data the engine evaluates with:
   * each tenant's data exactly as the engine hands it to the WASM.
   */
  static async forEngine(opa: string, root: string, engine: PolicyEngine): Promise<OpaServer> {
    const active = engine.current;
    if (active === null) throw new Error('the engine has no active revision');
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-opa-data-'));
    const data = {
      pdp: { config: { default_ttl_seconds: 3600, max_ttl_seconds: 86400 } },
      tenants: Object.fromEntries(
        Object.keys(active.tenants).map((t) => [
          t,
          JSON.parse(active.policy.tenantJson(t) ?? 'null') as unknown,
        ]),
      ),
    };
    writeFileSync(path.join(dir, 'data.json'), JSON.stringify(data));
    return OpaServer.start(opa, [
      path.join(root, 'policies/agent'),
      path.join(root, 'policies/custom'),
      path.join(dir, 'data.json'),
    ]);
  }

  static async start(opa: string, paths: string[]): Promise<OpaServer> {
    const port = await freePort();
    const child = spawn(
      opa,
      [
        'run',
        '--server',
        '--addr',
        `127.0.0.1:${port}`,
        '--log-level',
        'error',
        '--ignore',
        '*_test.rego',
        ...paths,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const server = new OpaServer(child, port);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`opa exited: ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return server;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`opa did not become healthy on ${port}: ${stderr}`);
  }

  /** Evaluates `data.<entrypoint>` for an input; undefined when the rule is undefined. */
  async query(entrypoint: string, input: unknown): Promise<unknown> {
    const res = await fetch(`http://127.0.0.1:${this.port}/v1/data/${entrypoint}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    });
    if (!res.ok) throw new Error(`opa answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { result?: unknown }).result;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}
