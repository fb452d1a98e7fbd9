import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PdpError } from '../../../src/errors';
import { TenantDataCompiler, type ExternalTenantDocs } from '../../../src/engine/tenant-data';

/** A block policy on every agent identity, with a display name to tell the sources apart. */
const policy = (
  id: string,
  displayName: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  id,
  displayName,
  state: 'enabled',
  conditions: {
    users: { includeUsers: ['None'] },
    applications: { includeApplications: ['All'] },
    clientApplications: { includeAgentIdServicePrincipals: ['All'] },
    clientAppTypes: ['all'],
    ...extra,
  },
  grantControls: { operator: 'OR', builtInControls: ['block'] },
});

const location = (id: string, cidr: string): Record<string, unknown> => ({
  '@odata.type': '#microsoft.graph.ipNamedLocation',
  id,
  displayName: `${id} ${cidr}`,
  isTrusted: true,
  ipRanges: [{ '@odata.type': '#microsoft.graph.iPv4CidrRange', cidrAddress: cidr }],
});

const graph = (docs: Partial<ExternalTenantDocs>): Map<string, ExternalTenantDocs> =>
  new Map([['t1', { policies: [], named_locations: [], source: 'graph:t1', ...docs }]]);

describe('Graph documents beside the bundle and the data directory', () => {
  it('precedence per policy id and per location id: bundle < Graph < data directory', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-ext-'));
    await mkdir(path.join(dir, 't1/conditional-access'), { recursive: true });
    await writeFile(
      path.join(dir, 't1/conditional-access/p-both.json'),
      JSON.stringify(policy('p-both', 'from file')),
    );
    await writeFile(
      path.join(dir, 't1/named-locations.json'),
      JSON.stringify({ value: [location('loc-both', '10.0.0.0/8')] }),
    );
    const bundle = {
      tenants: { t1: { conditional_access: [policy('p-bundle', 'bundle'), policy('p-graph', 'bundle')] } },
    };
    const tenants = await new TenantDataCompiler().compile(
      bundle,
      dir,
      graph({
        policies: [policy('p-graph', 'from graph'), policy('p-both', 'from graph')],
        named_locations: [location('loc-both', '192.0.2.0/24'), location('loc-graph', '198.51.100.0/24')],
      }),
    );
    const t1 = tenants['t1'];
    expect(Object.fromEntries((t1?.policies ?? []).map((p) => [p.id, p.displayName]))).toEqual({
      'p-both': 'from file',
      'p-bundle': 'bundle',
      'p-graph': 'from graph',
    });
    expect(Object.fromEntries((t1?.named_locations ?? []).map((l) => [l.id, l.ipRanges]))).toEqual({
      'loc-both': ['10.0.0.0/8'],
      'loc-graph': ['198.51.100.0/24'],
    });
  });

  it('a Graph policy that fails validation is located by source, policy id and pointer', async () => {
    const err = await new TenantDataCompiler()
      .compile(
        {},
        null,
        graph({
          policies: [policy('ok', 'fine'), policy('bad', 'broken', { agentIdRiskLevels: 'extreme' })],
        }),
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(PdpError);
    const details = (err as PdpError).details;
    expect(details.length).toBeGreaterThan(0);
    for (const d of details) {
      expect(d).toMatchObject({ file: 'graph:t1/policies', policy_id: 'bad' });
      expect(d.pointer.startsWith('/value/1/')).toBe(true);
    }
  });

  it('a Graph policy naming a location Graph did not send is refused; repeated ids too', async () => {
    const named = policy('p', 'p', { locations: { includeLocations: ['nowhere'] } });
    const err = (await new TenantDataCompiler()
      .compile({}, null, graph({ policies: [named, policy('p', 'again')] }))
      .catch((e: unknown) => e)) as PdpError;
    expect(err.details.map((d) => [d.keyword, d.pointer])).toEqual(
      expect.arrayContaining([
        ['uniqueId', '/value/1/id'],
        ['namedLocation', '/value/0/conditions/locations/includeLocations/0'],
      ]),
    );
  });
});
