/**
 * Tenant data is parsed into the WASM heap per tenant, on first use, up to a budget (TenantHeap).
 * Whatever the budget and the order of tenants, every decision equals the one of an engine that
 * keeps every tenant resident, and a decision reads its own tenant's data only.
 */
import path from 'node:path';
import { BENCH_NOW, decideInput, writeDataDir } from '../../bench/lib/fixtures';
import { PolicyEngine } from '../../src/engine/policy-engine';
import { DEFAULT_RESIDENT_BYTES } from '../../src/engine/tenant-heap';
import type { Entrypoint } from '../../src/engine/wasm-policy';
import { silentLogger } from '../helpers/app';

const BUNDLE = path.resolve(__dirname, '../../build/policies/bundle.tar.gz');
const TENANTS = ['default', ...Array.from({ length: 11 }, (_, i) => `tenant-${i + 1}`)];

async function engine(dataDir: string | null, residentTenantBytes?: number): Promise<PolicyEngine> {
  const e = new PolicyEngine({
    bundle: BUNDLE,
    dataDir,
    defaultTtlSeconds: 3600,
    maxTtlSeconds: 86400,
    logger: silentLogger,
    clock: () => NOW,
    residentTenantBytes,
    // Every evaluation reaches the heap: remembered results would hide the tenant it reads.
    memoEntries: 0,
  });
  await e.reload();
  return e;
}

const NOW = BENCH_NOW;

describe('tenant data in the WASM heap', () => {
  let dir: string;
  let roomy: PolicyEngine;
  let tight: PolicyEngine;

  beforeAll(async () => {
    dir = writeDataDir(6, TENANTS.length, 7);
    roomy = await engine(dir);
    // One byte: every tenant not resident empties the region, so at most one stays.
    tight = await engine(dir, 1);
  }, 60_000);

  it('decides alike whatever the budget, in any order of tenants, for decide and what-if', () => {
    const order = [...TENANTS, ...[...TENANTS].reverse(), 'default', 'default', 'tenant-3'];
    for (const entrypoint of ['agent/decide/result', 'agent/whatif/result'] as Entrypoint[]) {
      for (const tenant of order) {
        const expected = roomy.evaluate(entrypoint, decideInput(tenant)).result;
        expect(expected).toBeDefined();
        expect(tight.evaluate(entrypoint, decideInput(tenant)).result).toEqual(expected);
      }
    }
    expect(roomy.current!.policy.residentTenants).toBe(TENANTS.length);
    // The default budget applies when none is given (a regression: it once resolved to undefined,
    // which no comparison exceeds, so the region grew with every tenant).
    expect(roomy.current!.policy.residentBudgetBytes).toBe(DEFAULT_RESIDENT_BYTES);
    expect(tight.current!.policy.residentBudgetBytes).toBe(1);
    expect(tight.current!.policy.residentTenants).toBe(1);
  });

  it("reads the request's tenant only: tenants with other documents decide otherwise", () => {
    const results = TENANTS.map((t) =>
      JSON.stringify(roomy.evaluate('agent/decide/result', decideInput(t)).result),
    );
    expect(new Set(results).size).toBeGreaterThan(1);
  });

  it('decides an unknown tenant as a tenant without data', async () => {
    const empty = await engine(null);
    const input = decideInput('no-such-tenant');
    expect(roomy.evaluate('agent/decide/result', input).result).toEqual(
      empty.evaluate('agent/decide/result', input).result,
    );
  });

  it('takes the input as an object or serialised (text, bytes), with or without the tenant named', () => {
    const input = decideInput('tenant-2');
    const policy = roomy.current!.policy;
    const expected = policy.evaluate('agent/decide/result', input);
    const text = JSON.stringify(input);
    const bytes = new TextEncoder().encode(text);
    expect(policy.evaluate('agent/decide/result', text, 'tenant-2')).toEqual(expected);
    expect(policy.evaluate('agent/decide/result', text)).toEqual(expected);
    expect(policy.evaluate('agent/decide/result', bytes, 'tenant-2')).toEqual(expected);
    expect(policy.evaluate('agent/decide/result', bytes.buffer)).toEqual(expected);
  });

  it('keeps the heap within the budget however many tenants are used', () => {
    const before = tight.current!.policy.memoryBytes;
    for (const tenant of TENANTS) tight.evaluate('agent/decide/result', decideInput(tenant));
    expect(tight.current!.policy.memoryBytes).toBe(before);
  });
});
