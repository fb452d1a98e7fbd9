import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildInput, type PolicyInput } from '../../src/decision/input';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import type { Entrypoint } from '../../src/engine/wasm-policy';
import type { DecideRequest } from '../../src/schemas/requests';
import { MemoryStore } from '../../src/store/memory-store';
import { ROOT, makeEngine, seeded } from '../helpers/app';
import { OpaServer } from '../helpers/opa-server';

const OPA = path.join(ROOT, '.tools/bin/opa');
const NOW = Date.parse('2026-11-27T12:00:00Z');

const agents = [
  'agt-7f3a',
  'agt-research-1',
  'agt-lab-1',
  'agt-break-glass',
  'agt-disabled',
  'agt-orphan',
  'agt-expired',
  'agt-retired',
  'agt-nobody',
];
const targets: [string, string[]][] = [
  ['api://payments', ['payments.read', 'payments.write']],
  ['api://docs', ['docs.read']],
  ['api://hr', ['hr.read']],
];
const clients = [
  { ip: '198.51.100.7' },
  { ip: '203.0.113.7', country: 'NL' },
  { ip: '2001:db8:1::9' },
  { country: 'KP' },
  undefined,
];
const users = [
  undefined,
  { id: 'u-42', amr: ['pwd'], device: { platform: 'windows', compliant: true } },
  { id: 'u-risky', amr: ['pwd', 'mfa'], risk: 'medium', device: { platform: 'linux', compliant: false } },
] as const;
const risks = [null, 'medium', 'high'] as const;

/** A deterministic table crossing agents, resources, flows, locations, users and risk. */
async function cases(): Promise<{ entrypoint: Entrypoint; input: PolicyInput }[]> {
  const store = await seeded(new MemoryStore(), () => NOW);
  const out: { entrypoint: Entrypoint; input: PolicyInput }[] = [];
  let i = 0;
  for (const agent of agents) {
    for (const [resource, scopes] of targets) {
      for (const client of clients) {
        const user = users[i % users.length];
        const flow = user === undefined ? 'autonomous' : i % 2 === 0 ? 'on_behalf_of' : 'agent_user';
        const request: DecideRequest = {
          tenant: 'default',
          flow,
          agent_id: agent,
          resource,
          scopes,
          requested_ttl_seconds: 1800 + i,
        };
        if (client !== undefined) request.client = client;
        if (user !== undefined) request.user = structuredClone(user) as DecideRequest['user'] & object;
        const snapshot = await store.readSignals({ tenant: 'default', agentId: agent, userId: user?.id });
        const input = buildInput(request, snapshot, NOW);
        const risk = risks[i % risks.length];
        if (risk !== null && risk !== undefined) input.signals.agent_risk = { level: risk };
        if (i % 17 === 0) input.signals.unavailable = true;
        if (i % 11 === 0)
          input.signals.revocation = {
            revoked_at: '2026-11-27T11:00:00Z',
            revoked_at_epoch: NOW / 1000 - 3600,
          };
        out.push({ entrypoint: 'agent/decide/result', input });
        if (i % 5 === 0)
          out.push({
            entrypoint: 'agent/whatif/result',
            input: { ...input, policy_ids: ['ca-block-high-risk-agents', 'ca-obo-require-mfa'] },
          });
        i++;
      }
    }
  }
  return out;
}

describe('parity: opa eval (Go) and the compiled WASM in the engine agree', () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    if (!existsSync(OPA))
      throw new Error(`${OPA} is missing: run "npm run tools" (scripts/install-tools.sh)`);
    engine = await makeEngine({ clock: () => NOW });
  });

  it('on every case of the table', async () => {
    const table = await cases();
    expect(table.length).toBeGreaterThan(150);
    // The Go evaluator, as a server, on the Rego sources (not the WASM) and the same data.
    const opa = await OpaServer.forEngine(OPA, ROOT, engine);
    let fromOpa: unknown[];
    try {
      fromOpa = [];
      for (const c of table) fromOpa.push(await opa.query(c.entrypoint, c.input));
    } finally {
      await opa.stop();
    }
    const fromWasm = table.map((c) => engine.evaluate(c.entrypoint, c.input).result);

    expect(fromOpa).toHaveLength(table.length);
    fromWasm.forEach((wasm, i) => {
      expect([i, wasm]).toEqual([i, fromOpa[i]]);
    });
    // The table must exercise both outcomes and several reasons to mean anything.
    const decisions = new Set(fromWasm.map((r) => (r as { decision: string }).decision));
    expect(decisions).toEqual(new Set(['allow', 'deny']));
    const codes = new Set(
      fromWasm.flatMap((r) => (r as { reasons: { code: string }[] }).reasons.map((x) => x.code)),
    );
    expect(codes.size).toBeGreaterThanOrEqual(10);
  }, 60_000);
});
