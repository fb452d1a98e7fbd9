import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { writeDataDir } from '../../../bench/lib/fixtures';
import fc from 'fast-check';
import { compileCaIndex } from '../../../src/engine/ca-index';
import type {
  CompiledFilter,
  CompiledPolicy,
  FilterAtom,
  FilterOp,
  Flow,
  PolicyState,
  RiskLevel,
} from '../../../src/engine/ca-model';
import { TenantDataCompiler } from '../../../src/engine/tenant-data';
import { EXAMPLE_DATA, ROOT } from '../../helpers/app';

const OPA = path.join(ROOT, '.tools/bin/opa');

/**
 * The indexes the Rego twin of the compiler (policies/agent/compile_test.rego, which the Rego tests
 * build their tenants with) makes of the same policies, evaluated by one `opa eval` (each run costs
 * a process start).
 */
function regoIndexes(tenants: { policies: readonly CompiledPolicy[] }[]): unknown {
  const out = execFileSync(
    OPA,
    [
      'eval',
      '--format=json',
      '--stdin-input',
      '-d',
      path.join(ROOT, 'policies/agent'),
      '-d',
      path.join(ROOT, 'policies/custom'),
      '[data.agent.compile.tenant(t, []).ca_index | some t in input.tenants]',
    ],
    { input: JSON.stringify({ tenants: tenants.map((t) => t.policies) }), maxBuffer: 64 * 1024 * 1024 },
  ).toString();
  const parsed = JSON.parse(out) as { result?: { expressions: { value: unknown }[] }[] };
  return parsed.result?.[0]?.expressions[0]?.value;
}

/** The twin's index of one tenant. */
function regoIndex(tenant: { policies: readonly CompiledPolicy[] }): unknown {
  return (regoIndexes([tenant]) as unknown[])[0];
}

/** JSON round trip: what the WASM receives (undefined fields dropped). */
const asData = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

describe('the Conditional Access index: TypeScript compiler and Rego twin agree', () => {
  beforeAll(() => {
    if (!existsSync(OPA))
      throw new Error(`${OPA} is missing: run "npm run tools" (scripts/install-tools.sh)`);
  });

  it('for the example tenant', async () => {
    const tenants = await new TenantDataCompiler().compile({}, EXAMPLE_DATA);
    const tenant = tenants['default']!;
    expect(tenant.ca_index.keys).toEqual(tenant.policies.map((_, i) => String(i)));
    expect(regoIndex(tenant)).toEqual(asData(tenant.ca_index));
  }, 30_000);

  it.each([10, 50, 200])(
    'for the benchmark fixtures with %i documents',
    async (docs) => {
      const tenants = await new TenantDataCompiler().compile({}, writeDataDir(docs, 1));
      const tenant = tenants['default']!;
      // The fixtures exercise every part of the index.
      const index = tenant.ca_index;
      expect(Object.keys(index).sort()).toEqual(
        [
          'keys',
          'modes',
          'unmatched',
          'conditions',
          'gate',
          'agentIdentities',
          'users',
          'application',
          'agentIdRisk',
          'userRisk',
          'signInRisk',
          'location',
          'devicePlatform',
          'clientApps',
        ]
          .filter((k) => docs > 10 || k !== 'signInRisk')
          .sort(),
      );
      expect(regoIndex(tenant)).toEqual(asData(index));
    },
    60_000,
  );

  it('for policies with every kind of list entry', () => {
    const filter = (mode: 'include' | 'exclude'): CompiledFilter => ({
      mode,
      dnf: [
        [atom(['attributes', 'tier'], 'eq', 'prod'), atom(['attributes', 'tier'], 'eq', 'prod')],
        [atom(['blueprint_id'], 'in', ['bp-a', 'bp-b', 'bp-a'])],
        [
          atom(['display_name'], 'in', []),
          atom(['attributes', 'team'], 'ne', 'x'),
          atom(['custom_security_attributes', 'Eng', 'Tags'], 'contains', 'pci', true),
        ],
      ],
    });
    const policies = [
      model('ca-a', 'enabled', {
        agents: { include: ['agt-1', 'bp-a'], exclude: ['agt-2', 'ALL'], filter: null },
        users: users({
          include: ['u-1', 'All'],
          exclude: ['u-2', 'GuestsOrExternalUsers'],
          include_groups: ['g-1'],
        }),
        applications: { include: ['all'], exclude: ['api://x', 'AllAgentIdResources'], filter: null },
        locations: { include: ['AllTrusted', 'loc-1'], exclude: ['loc-2'] },
        platforms: { include: ['ios'], exclude: ['windows'] },
        agent_id_risk_levels: ['high'],
        client_app_types: ['browser'],
        flows: ['autonomous'],
      }),
      model('ca-b', 'enabledForReportingButNotEnforced', {
        agents: { include: ['bp-a'], exclude: [], filter: filter('include') },
        users: users({ include: ['AllAgentIdUsers'], include_guest_types: ['internalGuest'] }),
        flows: ['agent_user', 'autonomous'],
        unsupported: ['/conditions/insiderRiskLevels'],
      }),
      model('ca-c', 'disabled', { agents: { include: ['All'], exclude: [], filter: filter('exclude') } }),
      model('ca-d', 'enabled', {
        users: users({ include: ['None'], exclude: ['All'], exclude_roles: ['r-1'] }),
        applications: { include: ['AllAgentIdResources'], exclude: [], filter: filter('exclude') },
        device_filter: filter('include'),
      }),
    ];
    const tenant = { policies, named_locations: [], ca_index: compileCaIndex(policies) };
    expect(tenant.ca_index.unmatched).toEqual([[1, 2, 4, 7, 8, 9], [1, 2, 12], [], [2, 3, 10]]);
    // Maps name a policy by its position (ca-a is "0", ca-d "3").
    expect(tenant.ca_index.keys).toEqual(['0', '1', '2', '3']);
    expect(tenant.ca_index.gate).toEqual({
      autonomous: { '3': 1 },
      on_behalf_of: { '0': 11, '1': 11, '2': 2, '3': 2 },
      agent_user: { '0': 11, '2': 2 },
    });
    expect(regoIndex(tenant)).toEqual(asData(tenant.ca_index));
  }, 30_000);

  it('for random policies (fast-check, 150 tenants in one opa eval)', () => {
    const id = fc.constantFrom<string>('a', 'b', 'All', 'all', 'None', '__proto__', 'constructor');
    const ids = fc.uniqueArray(id, { maxLength: 3 });
    const userIds = fc.uniqueArray(
      fc.constantFrom<string>('u-1', 'All', 'None', 'AllAgentIdUsers', 'GuestsOrExternalUsers', 'toString'),
      { maxLength: 3 },
    );
    const atomArb: fc.Arbitrary<FilterAtom> = fc.record({
      attr: fc.constant('x'),
      path: fc.constantFrom(
        ['attributes', 'tier'],
        ['display_name'],
        ['custom_security_attributes', 'S', 'A'],
      ),
      op: fc.constantFrom<FilterOp>('eq', 'ne', 'in', 'notIn', 'contains', 'startsWith'),
      value: fc.constantFrom<string | string[]>('prod', 'lab', ['prod', 'lab']),
    });
    const filterArb = fc.option(
      fc.record({
        mode: fc.constantFrom<'include' | 'exclude'>('include', 'exclude'),
        dnf: fc.array(fc.array(atomArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
      }),
      { nil: null },
    );
    const levels = fc.option(fc.subarray<RiskLevel>(['none', 'low', 'medium', 'high']), { nil: null });
    const incExc = fc.option(fc.record({ include: ids, exclude: ids }), { nil: null });
    const policyArb = fc.record({
      state: fc.constantFrom<PolicyState>('enabled', 'disabled', 'enabledForReportingButNotEnforced'),
      flows: fc.option(fc.subarray<Flow>(['autonomous', 'on_behalf_of', 'agent_user']), { nil: null }),
      agents: fc.option(fc.record({ include: ids, exclude: ids, filter: filterArb }), { nil: null }),
      users: fc.option(
        fc.record({ include: userIds, exclude: userIds, include_groups: ids, exclude_roles: ids }),
        { nil: null },
      ),
      applications: fc.option(
        fc.record({
          include: fc.uniqueArray(fc.constantFrom<string>('api://x', 'All', 'AllAgentIdResources'), {
            maxLength: 2,
          }),
          exclude: fc.uniqueArray(fc.constantFrom<string>('api://y', 'AllAgentIdResources'), {
            maxLength: 2,
          }),
          filter: filterArb,
        }),
        { nil: null },
      ),
      agent_id_risk_levels: levels,
      user_risk_levels: levels,
      locations: incExc,
      platforms: incExc,
      client_app_types: fc.option(fc.subarray(['browser', 'other']), { nil: null }),
      device_filter: filterArb,
      unsupported: fc.subarray(['/conditions/times']),
    });
    const tenantsArb = fc.array(fc.array(policyArb, { maxLength: 6 }), { minLength: 150, maxLength: 150 });
    const sample = fc.sample(tenantsArb, { numRuns: 1, seed: 20261204 })[0] ?? [];
    const tenants = sample.map((ps) => {
      const policies = ps.map(({ state, users: u, ...rest }, i) =>
        model(`ca-${i}`, state, { ...rest, users: u === null ? null : users(u) }),
      );
      return { policies, named_locations: [], ca_index: compileCaIndex(policies) };
    });
    const twin = regoIndexes(tenants);
    expect(twin).toEqual(tenants.map((t) => asData(t.ca_index)));
  }, 120_000);
});

function atom(path: string[], op: FilterOp, value: FilterAtom['value'], ci = false): FilterAtom {
  return { attr: path.join('.'), path, op, value, ...(ci && { ci: true }) };
}

type Compiled = CompiledPolicy['compiled'];

function users(u: Partial<NonNullable<Compiled['users']>>): NonNullable<Compiled['users']> {
  return {
    include: [],
    exclude: [],
    include_groups: [],
    exclude_groups: [],
    include_roles: [],
    exclude_roles: [],
    include_guest_types: null,
    exclude_guest_types: null,
    ...u,
  };
}

/** An evaluation model with every field (absent conditions null). */
function model(id: string, state: PolicyState, c: Partial<Compiled>): CompiledPolicy {
  return {
    id,
    displayName: id,
    state,
    controls: ['block'],
    compiled: {
      flows: null,
      agents: null,
      users: null,
      applications: null,
      agent_id_risk_levels: null,
      user_risk_levels: null,
      sign_in_risk_levels: null,
      locations: null,
      platforms: null,
      client_app_types: null,
      device_filter: null,
      grant: { operator: 'OR', controls: ['block'], authentication_strength: null },
      sign_in_frequency_seconds: null,
      unsupported: [],
      ...c,
    },
  };
}
