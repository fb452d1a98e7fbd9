/**
 * In-process engine time per decision with the example policies: builds the policy input the
 * service builds and times `engine.evaluate` alone (no HTTP, no store). Prints median and p99.
 *   node dist/bench/engine-decide.js [iterations]
 */
import { buildInput } from '../src/decision/input';
import { exampleServices } from './lib/example';
import type { DecideRequest } from '../src/schemas/requests';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 20_000);
  const { engine, store } = await exampleServices({ evalMemoEntries: 0 });
  const cases: [string, DecideRequest][] = [
    [
      'autonomous, narrowed',
      {
        tenant: 'default',
        flow: 'autonomous',
        agent_id: 'agt-7f3a',
        resource: 'api://payments',
        scopes: ['payments.read', 'payments.write'],
        client: { ip: '203.0.113.7', country: 'NL' },
      },
    ],
    [
      'on_behalf_of, mfa',
      {
        tenant: 'default',
        flow: 'on_behalf_of',
        agent_id: 'agt-7f3a',
        resource: 'api://payments',
        scopes: ['payments.read'],
        user: { id: 'u-42', amr: ['pwd', 'mfa'], device: { platform: 'windows', compliant: true } },
        client: { ip: '198.51.100.7' },
      },
    ],
    [
      'unknown agent',
      {
        tenant: 'default',
        flow: 'autonomous',
        agent_id: 'agt-nobody',
        resource: 'api://payments',
        scopes: ['payments.read'],
      },
    ],
  ];
  const policies = engine.current?.tenants['default']?.policies.length ?? 0;
  console.log(
    `engine: ${policies} CA documents in tenant default, ${iterations} evaluations per case, node ${process.version}`,
  );
  for (const [name, request] of cases) {
    const signals = await store.readSignals({
      tenant: 'default',
      agentId: request.agent_id,
      userId: request.user?.id,
    });
    const input = buildInput(request, signals, Date.now());
    for (let i = 0; i < 2000; i++) engine.evaluate('agent/decide/result', input);
    const samples = new Array<number>(iterations);
    for (let i = 0; i < iterations; i++) {
      const t0 = process.hrtime.bigint();
      engine.evaluate('agent/decide/result', input);
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    samples.sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(22)} median ${percentile(samples, 50).toFixed(1)} µs   p99 ${percentile(samples, 99).toFixed(1)} µs`,
    );
  }
}

void main();
