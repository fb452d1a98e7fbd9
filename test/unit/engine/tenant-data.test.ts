import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PdpError } from '../../../src/errors';
import { TenantDataCompiler, dataRevision, unsupportedNotices } from '../../../src/engine/tenant-data';
import { EXAMPLE_DATA } from '../../helpers/app';

async function dataDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pdp-data-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

async function rejection(bundleData: Record<string, unknown>, dir: string | null): Promise<PdpError> {
  try {
    await new TenantDataCompiler().compile(bundleData, dir);
  } catch (err) {
    if (err instanceof PdpError) return err;
    throw err;
  }
  throw new Error('expected the load to be rejected');
}

/** A user policy; `extra.conditions` joins its users assignment. */
const policy = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  displayName: id,
  state: 'enabled',
  grantControls: { builtInControls: ['block'] },
  ...extra,
  conditions: { users: { includeUsers: ['All'] }, ...(extra['conditions'] as object | undefined) },
});

describe('TenantDataCompiler', () => {
  it('compiles the example tenant: sorted policies, parsed filters, sign-in frequency in seconds', async () => {
    const tenants = await new TenantDataCompiler().compile({}, EXAMPLE_DATA);
    const t = tenants['default']!;
    expect(t.policies.map((p) => p.id)).toEqual([...t.policies.map((p) => p.id)].sort());
    const lab = t.policies.find((p) => p.id === 'ca-lab-agents-payments-report-only')!;
    expect(lab.compiled.agents).toEqual({
      include: [],
      exclude: [],
      filter: {
        mode: 'include',
        dnf: [
          [{ attr: 'attributes.environment', path: ['attributes', 'environment'], op: 'eq', value: 'lab' }],
          [{ attr: 'displayName', path: ['display_name'], op: 'startsWith', value: 'lab-' }],
        ],
      },
    });
    expect(t.policies.find((p) => p.id === 'ca-obo-require-mfa')!.compiled.sign_in_frequency_seconds).toBe(
      3600,
    );
    expect(t.named_locations).toEqual([
      {
        id: 'loc-corp',
        displayName: 'Corporate networks',
        isTrusted: true,
        ipRanges: ['198.51.100.0/24', '2001:db8:1::/48'],
      },
      {
        id: 'loc-embargoed',
        displayName: 'Embargoed countries',
        countriesAndRegions: ['KP', 'IR'],
        includeUnknownCountriesAndRegions: false,
      },
    ]);
    // Only the evaluation model reaches the WASM data, never the Graph document.
    for (const p of t.policies) {
      expect(Object.keys(p).sort()).toEqual(
        ['agentControls', 'compiled', 'controls', 'displayName', 'id', 'state'].filter(
          (k) => k !== 'agentControls' || p.agentControls !== undefined,
        ),
      );
    }
  });

  it('merges bundle data with the directory, the directory winning per policy id', async () => {
    const dir = await dataDir({
      'acme/conditional-access/ca-a.json': policy('ca-a', { displayName: 'from dir' }),
    });
    const tenants = await new TenantDataCompiler().compile(
      { tenants: { acme: { conditional_access: [policy('ca-a'), policy('ca-b')] } } },
      dir,
    );
    expect(tenants['acme']!.policies.map((p) => [p.id, p.displayName])).toEqual([
      ['ca-a', 'from dir'],
      ['ca-b', 'ca-b'],
    ]);
  });

  it('rejects a misspelt condition with file, policy id and JSON pointer', async () => {
    const dir = await dataDir({
      'acme/conditional-access/ca-typo.json': policy('ca-typo', {
        conditions: { clientAppType: ['browser'] },
      }),
    });
    const err = await rejection({}, dir);
    expect(err.code).toBe('data_invalid');
    expect(err.details).toContainEqual(
      expect.objectContaining({
        file: path.join(dir, 'acme/conditional-access/ca-typo.json'),
        policy_id: 'ca-typo',
        pointer: '/conditions/clientAppType',
        message: 'is not allowed',
      }),
    );
    expect(err.message).toMatch(/ca-typo\.json ca-typo \/conditions\/clientAppType is not allowed/);
  });

  it.each([
    ['a bad state', { state: 'on' }, '/state'],
    [
      'an unknown control',
      { grantControls: { builtInControls: ['passwordChange'] } },
      '/grantControls/builtInControls/0',
    ],
    [
      'a bad risk level',
      { conditions: { agentIdRiskLevels: ['severe'] } },
      '/conditions/agentIdRiskLevels/0',
    ],
    [
      'a bad filter rule',
      {
        conditions: {
          clientApplications: { agentIdServicePrincipalFilter: { mode: 'include', rule: 'tier -eq 1' } },
        },
      },
      '/conditions/clientApplications/agentIdServicePrincipalFilter/rule',
    ],
    [
      'an unknown location',
      { conditions: { locations: { includeLocations: ['loc-nowhere'] } } },
      '/conditions/locations/includeLocations/0',
    ],
    [
      'sign-in frequency without a value',
      { sessionControls: { signInFrequency: { isEnabled: true } } },
      '/sessionControls/signInFrequency',
    ],
    [
      'an enforced condition the PDP cannot evaluate',
      { conditions: { servicePrincipalRiskLevels: ['high'] } },
      '/conditions/servicePrincipalRiskLevels',
    ],
    ['a policy that assigns nobody', { conditions: { users: null } }, '/conditions'],
    [
      'a non-block control on an agent-identity policy',
      {
        conditions: {
          users: { includeUsers: ['None'] },
          clientApplications: { includeAgentIdServicePrincipals: ['All'] },
        },
        grantControls: { builtInControls: ['mfa'] },
      },
      '/grantControls/builtInControls/0',
    ],
  ])('rejects %s', async (_name, extra, pointer) => {
    const dir = await dataDir({ 'acme/conditional-access/ca-x.json': policy('ca-x', extra) });
    const err = await rejection({}, dir);
    expect(err.details.map((d) => d.pointer)).toContain(pointer);
    expect(err.details.every((d) => d.policy_id === 'ca-x')).toBe(true);
  });

  it('rejects unreadable JSON, an id in two files and bad named locations', async () => {
    const dir = await dataDir({
      'acme/conditional-access/ca-broken.json': '{"id": ',
      'acme/conditional-access/ca-one.json': policy('ca-two'),
      'acme/conditional-access/export.json': { value: [policy('ca-two')] },
      'acme/named-locations.json': {
        value: [{ id: 'loc', displayName: 'x', ipRanges: [{ cidrAddress: '10.0.0.0/33' }] }],
      },
    });
    const err = await rejection({}, dir);
    expect(err.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          file: path.join(dir, 'acme/conditional-access/ca-broken.json'),
          keyword: 'json',
        }),
        expect.objectContaining({
          file: path.join(dir, 'acme/conditional-access/export.json'),
          policy_id: 'ca-two',
          pointer: '/value/0/id',
          keyword: 'uniqueId',
        }),
        expect.objectContaining({
          pointer: '/value/0/ipRanges/0/cidrAddress',
          file: path.join(dir, 'acme/named-locations.json'),
        }),
      ]),
    );
  });

  it('accepts allow_non_canonical_path as a boolean on a route, and nothing else', async () => {
    const route = (extra: Record<string, unknown>) => ({
      routes: [{ id: 'legacy', path: '/legacy/**', resource: 'api://legacy', ...extra }],
    });
    const ok = await new TenantDataCompiler().compile(
      {},
      await dataDir({ 'acme/gateway-routes.json': route({ allow_non_canonical_path: true }) }),
    );
    // With the prefix the engine adds for the gateway's glob (src/engine/route-prefix.ts).
    expect(ok['acme']!.gateway_routes).toEqual(
      route({ allow_non_canonical_path: true, literal_prefix: '/legacy/' }),
    );
    const dir = await dataDir({ 'acme/gateway-routes.json': route({ allow_non_canonical_path: 'yes' }) });
    const err = await rejection({}, dir);
    expect(err.details).toEqual([
      expect.objectContaining({
        pointer: '/routes/0/allow_non_canonical_path',
        file: path.join(dir, 'acme/gateway-routes.json'),
      }),
    ]);
  });

  it('accepts IPv6 ranges and gives identical data the identical revision', async () => {
    const files = {
      'acme/named-locations.json': [
        {
          id: 'v6',
          displayName: 'v6',
          isTrusted: true,
          ipRanges: [{ cidrAddress: '2001:db8::/32' }, { cidrAddress: '10.0.0.0/8' }],
        },
      ],
      'acme/conditional-access/ca-a.json': policy('ca-a', {
        conditions: { locations: { includeLocations: ['v6'] } },
      }),
    };
    const a = await new TenantDataCompiler().compile({}, await dataDir(files));
    const b = await new TenantDataCompiler().compile({}, await dataDir(files));
    expect(dataRevision(a)).toBe(dataRevision(b));
    expect(dataRevision(a)).toMatch(/^[0-9a-f]{12}$/);
  });

  it('lists the report-only and disabled policies kept with unsupported conditions, for the load warning', async () => {
    const dir = await dataDir({
      'b/conditional-access/ok.json': policy('ok'),
      'a/conditional-access/ro.json': policy('ro', {
        state: 'enabledForReportingButNotEnforced',
        conditions: { servicePrincipalRiskLevels: ['high'], insiderRiskLevels: 'elevated' },
      }),
      'a/conditional-access/off.json': policy('off', {
        state: 'disabled',
        conditions: { times: { allDays: true } },
      }),
    });
    const tenants = await new TenantDataCompiler().compile({}, dir);
    expect(unsupportedNotices(tenants)).toEqual([
      { tenant: 'a', policy_id: 'off', state: 'disabled', unsupported: ['/conditions/times'] },
      {
        tenant: 'a',
        policy_id: 'ro',
        state: 'enabledForReportingButNotEnforced',
        unsupported: ['/conditions/servicePrincipalRiskLevels', '/conditions/insiderRiskLevels'],
      },
    ]);
    expect(unsupportedNotices({ b: tenants['b']! })).toEqual([]);
  });
});
