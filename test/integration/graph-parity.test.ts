import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { buildInput, type PolicyInput } from '../../src/decision/input';
import request from 'supertest';
import { policyResults, signalsQuery, tenantPolicies, type PolicyResult } from '../../src/decision/service';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import type { DecideRequest } from '../../src/schemas/requests';
import { MemoryStore } from '../../src/store/memory-store';
import type { SignalStore } from '../../src/store/types';
import { ROOT, makeApp, makeEngine, type TestApp } from '../helpers/app';
import { OpaServer } from '../helpers/opa-server';

/**
 * Graph parity (CONTRACT-9 E): every case of test/fixtures/graph-parity/<condition>.json, derived
 * from Microsoft's documentation, runs through the compiled WASM decide path and through the Go
 * evaluator (`opa run --server` on the Rego sources and the same data); both must give the
 * documented {result, reason} for the case's policy, and must agree on the whole decision.
 */

const OPA = path.join(ROOT, '.tools/bin/opa');
const TABLES = path.join(ROOT, 'test/fixtures/graph-parity');
const NOW = Date.parse('2026-11-27T12:00:00Z');

const CONDITIONS = [
  'users',
  'agentIdentities',
  'application',
  'agentIdRisk',
  'userRisk',
  'signInRisk',
  'location',
  'devicePlatform',
  'clientApps',
  'devices',
  'grantControls',
  'signInFrequency',
];

interface Directory {
  agents: Record<string, Record<string, unknown>>;
  blueprints: Record<string, Record<string, unknown>>;
  agent_users: Record<string, Record<string, unknown>>;
  resources: Record<string, Record<string, unknown>>;
}

interface ParityCase {
  name: string;
  source: string;
  policy: { id: string } & Record<string, unknown>;
  named_locations?: unknown;
  request: DecideRequest;
  directory: Directory;
  signals?: Record<string, unknown>;
  expect: { result: string; reason: string; ttl_seconds?: number };
}

interface Table {
  condition: string;
  source: string;
  cases: ParityCase[];
}

interface Loaded extends ParityCase {
  condition: string;
  tenant: string;
}

interface DecideResult {
  decision: string;
  grant: { ttl_seconds: number } | null;
  policies: PolicyResult[];
}

const LEARN = /^https:\/\/learn\.microsoft\.com\/en-us\/(entra|graph)\//;

function loadTables(): Loaded[] {
  const files = readdirSync(TABLES).filter((f) => f.endsWith('.json'));
  expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...CONDITIONS].sort());
  const out: Loaded[] = [];
  for (const f of files.sort()) {
    const table = JSON.parse(readFileSync(path.join(TABLES, f), 'utf8')) as Table;
    expect(table.condition).toBe(f.replace(/\.json$/, ''));
    expect(table.source).toMatch(LEARN);
    table.cases.forEach((c, i) => {
      out.push({ ...c, condition: table.condition, tenant: `gp.${table.condition}.${i}` });
    });
  }
  return out;
}

/**
 * The case's directory, written through the directory API: the routes keep the store's indexes
 * (identifier URI → resource, blueprint principal → blueprint, agent → agent user) as in service.
 */
async function seed(api: TestApp['api'], c: Loaded): Promise<void> {
  const sections = [
    ['blueprints', 'blueprints'],
    ['agents', 'agents'],
    ['agent_users', 'agent-users'],
    ['resources', 'resources'],
  ] as const;
  for (const [section, route] of sections)
    for (const [id, rec] of Object.entries(c.directory[section])) {
      const res = await request(api).put(`/v1/tenants/${c.tenant}/${route}/${id}`).send(rec);
      expect([c.tenant, route, id, res.status, res.body]).toEqual([
        c.tenant,
        route,
        id,
        200,
        expect.objectContaining({ id }),
      ]);
    }
}

/** The input the decide service builds for the case's request (one store read), plus its signals. */
async function inputOf(store: SignalStore, c: Loaded): Promise<PolicyInput> {
  const request = { ...structuredClone(c.request), tenant: c.tenant };
  const input = buildInput(request, await store.readSignals(signalsQuery(request)), NOW);
  const signals = input.signals as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(c.signals ?? {})) signals[k] = v;
  return input;
}

/** What the policy reports, as the decide response shows it (outcome codes → result, reason). */
function shaped(engine: PolicyEngine, c: Loaded, raw: unknown): DecideResult {
  const r = raw as { decision: string; grant: DecideResult['grant']; policies?: unknown };
  const policies = policyResults(tenantPolicies(engine.current!, c.tenant), r.policies);
  return { decision: r.decision, grant: r.grant, policies };
}

function outcome(r: DecideResult, c: Loaded): Record<string, unknown> {
  const p = r.policies.find((x) => x.id === c.policy.id);
  const got: Record<string, unknown> = { result: p?.result, reason: p?.reason };
  if (c.expect.ttl_seconds !== undefined) got['ttl_seconds'] = r.grant?.ttl_seconds;
  return got;
}

describe('Graph parity: documented Conditional Access semantics, WASM and opa agree', () => {
  const cases = loadTables();
  let engine: PolicyEngine;
  let store: SignalStore;
  let fromWasm: DecideResult[];
  let fromOpa: DecideResult[];

  beforeAll(async () => {
    if (!existsSync(OPA))
      throw new Error(`${OPA} is missing: run "npm run tools" (scripts/install-tools.sh)`);
    // One tenant per case: the case's policy (and named locations) is all that tenant holds.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pdp-graph-parity-'));
    for (const c of cases) {
      const ca = path.join(dataDir, c.tenant, 'conditional-access');
      mkdirSync(ca, { recursive: true });
      writeFileSync(path.join(ca, 'policy.json'), JSON.stringify(c.policy, null, 2));
      if (c.named_locations !== undefined)
        writeFileSync(
          path.join(dataDir, c.tenant, 'named-locations.json'),
          JSON.stringify(c.named_locations, null, 2),
        );
    }
    engine = await makeEngine({ dataDir, clock: () => NOW });
    store = new MemoryStore();
    const app = await makeApp({ clock: () => NOW, engine, store });
    for (const c of cases) await seed(app.api, c);

    const inputs: PolicyInput[] = [];
    for (const c of cases) inputs.push(await inputOf(store, c));
    fromWasm = inputs.map((input, i) =>
      shaped(engine, cases[i]!, engine.evaluate('agent/decide/result', input).result),
    );

    // The Go evaluator, as a server, on the Rego sources (not the WASM) and the same data.
    const opa = await OpaServer.forEngine(OPA, ROOT, engine);
    try {
      fromOpa = [];
      for (const [i, input] of inputs.entries())
        fromOpa.push(shaped(engine, cases[i]!, await opa.query('agent/decide/result', input)));
    } finally {
      await opa.stop();
    }
  }, 120_000);

  it('every table is complete: each case names its Microsoft source and an expected result', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    const names = new Set<string>();
    for (const c of cases) {
      expect([c.condition, c.name, c.source]).toEqual([c.condition, c.name, expect.stringMatching(LEARN)]);
      expect(names.has(`${c.condition}/${c.name}`)).toBe(false);
      names.add(`${c.condition}/${c.name}`);
      expect(typeof c.policy.id).toBe('string');
    }
    // Each table shows its condition both matching and not matching (session: the cap applied).
    for (const condition of CONDITIONS) {
      const results = new Set(cases.filter((c) => c.condition === condition).map((c) => c.expect.result));
      const shown = condition === 'signInFrequency' ? ['success'] : ['failure', 'notApplied'];
      for (const r of shown) expect([condition, results.has(r)]).toEqual([condition, true]);
    }
  });

  it.each(CONDITIONS)('%s: the compiled WASM gives the documented result and reason', (condition) => {
    const mismatches = cases
      .map((c, i) => ({ c, got: outcome(fromWasm[i]!, c) }))
      .filter(({ c }) => c.condition === condition)
      .filter(({ c, got }) => !isDeepStrictEqual(got, { ...c.expect }))
      .map(({ c, got }) => ({ case: c.name, source: c.source, expected: c.expect, got }));
    expect(mismatches).toEqual([]);
  });

  it.each(CONDITIONS)('%s: opa (Go) gives the documented result and reason', (condition) => {
    const mismatches = cases
      .map((c, i) => ({ c, got: outcome(fromOpa[i]!, c) }))
      .filter(({ c }) => c.condition === condition)
      .filter(({ c, got }) => !isDeepStrictEqual(got, { ...c.expect }))
      .map(({ c, got }) => ({ case: c.name, source: c.source, expected: c.expect, got }));
    expect(mismatches).toEqual([]);
  });

  it('WASM and opa agree on every whole decision', () => {
    expect(fromOpa).toHaveLength(cases.length);
    fromWasm.forEach((wasm, i) => {
      expect([cases[i]!.tenant, wasm]).toEqual([cases[i]!.tenant, fromOpa[i]]);
    });
  });
});
