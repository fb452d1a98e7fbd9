import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { writeDataDir } from '../../../bench/lib/fixtures';
import { compileCaIndex } from '../../../src/engine/ca-index';
import { TenantDataCompiler, type TenantData } from '../../../src/engine/tenant-data';
import { EXAMPLE_DATA, ROOT } from '../../helpers/app';

const OPA = path.join(ROOT, '.tools/bin/opa');

/**
 * The index the Rego twin of the compiler (policies/agent/compile_test.rego, which the Rego tests
 * build their tenants with) makes of the same documents, evaluated by `opa eval`.
 */
function regoIndex(tenant: TenantData): unknown {
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
      'data.agent.compile.tenant(input.policies, input.named_locations).ca_index',
    ],
    { input: JSON.stringify({ policies: tenant.policies, named_locations: tenant.named_locations }) },
  ).toString();
  const parsed = JSON.parse(out) as { result?: { expressions: { value: unknown }[] }[] };
  return parsed.result?.[0]?.expressions[0]?.value;
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
    expect(tenant.ca_index.ids).toEqual(tenant.policies.map((p) => p.id));
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
          'ids',
          'modes',
          'unmatched',
          'agentIdentities',
          'users',
          'application',
          'flows',
          'agentIdRisk',
          'userRisk',
          'signInRisk',
          'location',
          'devicePlatform',
        ]
          .filter((k) => docs > 10 || k !== 'userRisk')
          .sort(),
      );
      expect(regoIndex(tenant)).toEqual(asData(index));
    },
    60_000,
  );

  it('for documents with every kind of list entry', () => {
    const compiled = { agent_filter: null, sign_in_frequency_seconds: null };
    const filter = (mode: 'include' | 'exclude') => ({
      agent_filter: {
        mode,
        dnf: [
          [
            { attr: 'attributes.tier', op: 'eq' as const, value: 'prod' },
            { attr: 'attributes.tier', op: 'eq' as const, value: 'prod' },
          ],
          [{ attr: 'blueprintId', op: 'in' as const, value: ['bp-a', 'bp-b', 'bp-a'] }],
          [
            { attr: 'displayName', op: 'in' as const, value: [] },
            { attr: 'attributes.team', op: 'ne' as const, value: 'x' },
            { attr: 'attributes.labels', op: 'contains' as const, value: 'pci' },
          ],
        ],
      },
      sign_in_frequency_seconds: null,
    });
    const policies = [
      {
        id: 'ca-a',
        displayName: 'A',
        state: 'enabled' as const,
        conditions: {
          clientApplications: {
            includeAgentIdServicePrincipals: ['agt-1'],
            includeAgentIdBlueprints: ['bp-a'],
            excludeAgentIdServicePrincipals: ['agt-2', 'ALL'],
          },
          users: { includeUsers: ['u-1'], excludeUsers: ['u-2'] },
          applications: { includeApplications: ['all'], excludeApplications: ['api://x'] },
          locations: { includeLocations: ['AllTrusted', 'loc-1'], excludeLocations: ['loc-2'] },
          platforms: { includePlatforms: ['iOS'], excludePlatforms: ['windows'] },
          agentIdRiskLevels: ['high'],
          flows: ['autonomous'],
        },
        compiled,
      },
      {
        id: 'ca-b',
        displayName: 'B',
        state: 'enabledForReportingButNotEnforced' as const,
        conditions: { clientApplications: { includeAgentIdBlueprints: ['bp-a'] }, users: {} },
        compiled: filter('include'),
      },
      {
        id: 'ca-c',
        displayName: 'C',
        state: 'disabled' as const,
        conditions: { clientApplications: { includeAgentIdServicePrincipals: ['All'] } },
        compiled: filter('exclude'),
      },
      { id: 'ca-d', displayName: 'D', state: 'enabled' as const, compiled },
    ];
    const tenant = { policies, named_locations: [], ca_index: compileCaIndex(policies) };
    expect(tenant.ca_index.unmatched).toEqual([[1, 2, 4, 5, 8, 9], [1, 2], [], []]);
    expect(regoIndex(tenant)).toEqual(asData(tenant.ca_index));
  }, 30_000);
});
