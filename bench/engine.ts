/**
 * Engine micro-benchmarks through the real WASM engine (tinybench): decide with 10, 50 and 200 CA
 * documents, 1 vs 10,000 tenants loaded, what-if, and the gateway entrypoint. Prints a table and,
 * with --json <file>, writes the figures. Usage: node dist/bench/engine.js [--quick] [--json f]
 */
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { Bench } from 'tinybench';
import { buildInput, type PolicyInput } from '../src/decision/input';
import type { PolicyEngine } from '../src/engine/policy-engine';
import { createEngine } from '../src/services';
import type { Entrypoint } from '../src/engine/wasm-policy';
import { benchConfig } from './lib/example';
import { writeDataDir } from './lib/fixtures';

const NOW = Date.parse('2026-11-27T12:00:00Z');

export interface EngineFigure {
  name: string;
  documents: number;
  tenants: number;
  median_us: number;
  p99_us: number;
  mean_us: number;
  samples: number;
  wasm_memory_bytes: number;
}

async function engineFor(docs: number, tenants: number): Promise<PolicyEngine> {
  const engine = createEngine(benchConfig({ dataDir: writeDataDir(docs, tenants) }), {
    logger: pino({ level: 'silent' }),
    clock: () => NOW,
  });
  await engine.reload();
  return engine;
}

/** A realistic decide input: a known prod agent asking for payments from an untrusted address. */
export function decideInput(): PolicyInput {
  return buildInput(
    {
      tenant: 'default',
      flow: 'on_behalf_of',
      agent_id: 'agt-7f3a',
      resource: 'api://payments',
      scopes: ['payments.read', 'payments.write'],
      requested_ttl_seconds: 3600,
      user: {
        id: 'u-42',
        amr: ['pwd', 'mfa'],
        risk: 'low',
        device: { platform: 'windows', compliant: true },
      },
      client: { ip: '203.0.113.7', country: 'NL' },
    },
    {
      agent: {
        id: 'agt-7f3a',
        blueprint_id: 'bp-invoice',
        display_name: 'Invoice bot EU',
        enabled: true,
        sponsors: ['u-1'],
        attributes: { tier: 'prod' },
      },
      blueprint: {
        id: 'bp-invoice',
        enabled: true,
        permissions: { 'api://payments': ['payments.read', 'payments.write'] },
        max_ttl_seconds: 3600,
        attributes: {},
      },
      blueprintRisk: null,
      agentUser: null,
      agentUserRisk: null,
      resource: null,
      resourceAgent: null,
      agentRisk: { level: 'low' },
      userRisk: null,
      revocation: null,
      degraded: false,
      unavailable: false,
    },
    NOW,
  );
}

function gatewayInput(): object {
  const d = decideInput();
  return {
    ...d,
    request: {
      tenant: 'default',
      method: 'GET',
      path: '/payments/42',
      path_problem: null,
      client: { ip: '203.0.113.7' },
      flow: 'autonomous',
      agent_id: 'agt-7f3a',
    },
    token: {
      issuer: 'x',
      agent_id: 'agt-7f3a',
      audiences: ['api://payments'],
      scopes: [],
      roles: ['payments.read'],
      user_id: null,
      iat: NOW / 1000 - 60,
      exp: NOW / 1000 + 3600,
      parent_blueprint: null,
    },
  };
}

export async function runEngineBench(opts: { quick: boolean }): Promise<EngineFigure[]> {
  const time = opts.quick ? 300 : 1500;
  const cases: {
    name: string;
    docs: number;
    tenants: number;
    entrypoint: Entrypoint;
    input: () => object;
  }[] = [
    {
      name: 'decide, 10 documents',
      docs: 10,
      tenants: 1,
      entrypoint: 'agent/decide/result',
      input: decideInput,
    },
    {
      name: 'decide, 50 documents',
      docs: 50,
      tenants: 1,
      entrypoint: 'agent/decide/result',
      input: decideInput,
    },
    {
      name: 'decide, 200 documents',
      docs: 200,
      tenants: 1,
      entrypoint: 'agent/decide/result',
      input: decideInput,
    },
    {
      name: 'decide, 10 documents, 10,000 tenants',
      docs: 10,
      tenants: opts.quick ? 2000 : 10_000,
      entrypoint: 'agent/decide/result',
      input: decideInput,
    },
    {
      name: 'what-if, 50 documents',
      docs: 50,
      tenants: 1,
      entrypoint: 'agent/whatif/result',
      input: decideInput,
    },
    {
      name: 'gateway, 10 documents',
      docs: 10,
      tenants: 1,
      entrypoint: 'agent/gateway/result',
      input: gatewayInput,
    },
  ];
  const figures: EngineFigure[] = [];
  for (const c of cases) {
    const engine = await engineFor(c.docs, c.tenants);
    const input = c.input();
    const bench = new Bench({ time, warmupTime: 200, retainSamples: true });
    bench.add(c.name, () => {
      engine.evaluate(c.entrypoint, input);
    });
    await bench.run();
    const result = bench.tasks[0]?.result;
    if (result?.state !== 'completed')
      throw new Error(`${c.name}: benchmark did not complete (${result?.state ?? 'no result'})`);
    const samples = [...(result.latency.samples ?? [])].sort((a, b) => a - b);
    const at = (p: number) =>
      (samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN) * 1000;
    figures.push({
      name: c.name,
      documents: c.docs,
      tenants: c.tenants,
      median_us: at(0.5),
      p99_us: at(0.99),
      mean_us: (samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length)) * 1000,
      samples: samples.length,
      wasm_memory_bytes: engine.current?.policy.memoryBytes ?? 0,
    });
  }
  return figures;
}

export function printEngine(figures: EngineFigure[]): void {
  console.log('\nengine (in-process WASM evaluation)');
  console.log(
    `  ${'case'.padEnd(40)} ${'median µs'.padStart(10)} ${'p99 µs'.padStart(10)} ${'samples'.padStart(9)} ${'WASM MiB'.padStart(9)}`,
  );
  for (const f of figures) {
    console.log(
      `  ${f.name.padEnd(40)} ${f.median_us.toFixed(1).padStart(10)} ${f.p99_us.toFixed(1).padStart(10)} ${String(f.samples).padStart(9)} ${(f.wasm_memory_bytes / 2 ** 20).toFixed(1).padStart(9)}`,
    );
  }
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  const jsonAt = process.argv.indexOf('--json');
  void runEngineBench({ quick }).then((figures) => {
    printEngine(figures);
    if (jsonAt > 0 && process.argv[jsonAt + 1] !== undefined)
      writeFileSync(process.argv[jsonAt + 1] as string, JSON.stringify(figures, null, 2));
  });
}
