import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { normalisePolicy } from '../../../src/engine/ca-normalise';
import type { CompiledPolicy } from '../../../src/engine/ca-model';
import { TenantDataCompiler } from '../../../src/engine/tenant-data';
import { PdpError } from '../../../src/errors';
import { createAjv } from '../../../src/schemas/ajv';
import {
  GRAPH_TYPES,
  extensionProperties,
  graphSchema,
  type Prop,
} from '../../../src/schemas/graph/ca-graph-model';
import { ROOT } from '../../helpers/app';

const FIXTURES = path.join(ROOT, 'test/fixtures/graph');

async function dataDir(
  files: Record<string, unknown>,
  fixtures: Record<string, string> = {},
): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pdp-graph-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  for (const [name, fixture] of Object.entries(fixtures)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await copyFile(path.join(FIXTURES, fixture), path.join(dir, name));
  }
  return dir;
}

async function rejection(dir: string, bundle: Record<string, unknown> = {}): Promise<PdpError> {
  try {
    await new TenantDataCompiler().compile(bundle, dir);
  } catch (err) {
    if (err instanceof PdpError) return err;
    throw err;
  }
  throw new Error('expected the load to be rejected');
}

const validatePolicy = createAjv().compile(graphSchema('conditionalAccessPolicy', 'urn:test:policy'));

/** A minimal valid agent-identity policy, Graph's way. */
const agentPolicy = (extra: Record<string, unknown> = {}, conditions: Record<string, unknown> = {}) => ({
  displayName: 'x',
  state: 'enabled',
  conditions: {
    users: { includeUsers: ['None'] },
    applications: { includeApplications: ['All'] },
    clientApplications: { includeAgentIdServicePrincipals: ['All'] },
    ...conditions,
  },
  grantControls: { operator: 'OR', builtInControls: ['block'] },
  ...extra,
});

const userPolicy = (extra: Record<string, unknown> = {}, conditions: Record<string, unknown> = {}) => ({
  displayName: 'x',
  state: 'enabled',
  conditions: {
    users: { includeUsers: ['All'] },
    applications: { includeApplications: ['All'] },
    ...conditions,
  },
  grantControls: { operator: 'OR', builtInControls: ['mfa'] },
  ...extra,
});

const compiled = (doc: Record<string, unknown>): CompiledPolicy['compiled'] => {
  expect(validatePolicy(doc)).toBe(true);
  const { policy, problems } = normalisePolicy(doc, 'p');
  expect(problems).toEqual([]);
  return policy.compiled;
};

describe('the Graph model and the schema generated from it', () => {
  it('declares every nested type it refers to, and closes every type', () => {
    const types = GRAPH_TYPES as Record<string, Record<string, Prop>>;
    const refs = Object.values(types).flatMap((props) =>
      Object.values(props).flatMap((p) => {
        const k = p.kind.k === 'collection' ? p.kind.of : p.kind;
        return k.k === 'object' ? [k.type] : [];
      }),
    );
    for (const ref of refs) expect(Object.keys(types)).toContain(ref);
    const schema = graphSchema('conditionalAccessPolicy', 'urn:test:x') as {
      $defs: Record<string, { additionalProperties: boolean }>;
    };
    for (const def of Object.values(schema.$defs)) expect(def.additionalProperties).toBe(false);
  });

  it('marks exactly the documented extensions', () => {
    expect(extensionProperties().sort()).toEqual(
      [
        'agentControls.allowedScopes',
        'agentControls.maxTokenTtlSeconds',
        'conditionalAccessClientApplications.includeAgentIdBlueprints',
        'conditionalAccessConditionSet.flows',
        'conditionalAccessPolicy.agentControls',
      ].sort(),
    );
  });

  it('accepts what Graph writes: annotations anywhere, nulls, empty lists, read-only fields, flags strings', () => {
    const doc = agentPolicy(
      {
        '@odata.type': '#microsoft.graph.conditionalAccessPolicy',
        id: '4e6ac5a8-0b0f-4b0b-9a8a-2f1d1c1b1a19',
        templateId: null,
        createdDateTime: '2026-11-01T09:00:00.0000000Z',
        modifiedDateTime: null,
        deletedDateTime: null,
        partialEnablementStrategy: null,
        description: null,
        sessionControls: null,
        'grantControls@odata.type': '#microsoft.graph.conditionalAccessGrantControls',
      },
      {
        '@odata.type': '#microsoft.graph.conditionalAccessConditionSet',
        agentIdRiskLevels: 'medium,high',
        clientAppTypes: ['all'],
        userRiskLevels: [],
        insiderRiskLevels: null,
        times: null,
        // Not on Learn's property table; Graph returns them in policies and templates.
        clients: null,
        signInRiskDetections: null,
        agents: null,
        devices: null,
        platforms: null,
      },
    );
    expect(validatePolicy(doc)).toBe(true);
    expect(validatePolicy({ ...doc, conditions: { ...doc.conditions, agentIdRiskLevels: ['medium'] } })).toBe(
      true,
    );
  });

  it.each([
    ['/conditions/clientAppType', { conditions: { clientAppType: ['browser'] } }],
    ['/conditions/users/includeUser', { conditions: { users: { includeUser: ['All'] } } }],
    [
      '/conditions/clientApplications/includeApplications',
      { conditions: { clientApplications: { includeApplications: [] } } },
    ],
    ['/grantControls/builtinControls', { grantControls: { builtinControls: ['block'] } }],
    ['/sessionControls/signInFrequency/unit', { sessionControls: { signInFrequency: { unit: 'hours' } } }],
    ['/odata.type', { 'odata.type': 'x' }],
  ])('rejects %s, a property Graph does not have', async (pointer, extra) => {
    const doc = { displayName: 'x', state: 'enabled', ...extra };
    expect(validatePolicy(doc)).toBe(false);
    const dir = await dataDir({ 't/conditional-access/typo.json': doc });
    const err = await rejection(dir);
    expect(err.details).toContainEqual(
      expect.objectContaining({
        file: path.join(dir, 't/conditional-access/typo.json'),
        policy_id: 'typo',
        pointer,
        message: 'is not allowed',
      }),
    );
  });

  it('rejects a bad flags string with one message', () => {
    expect(validatePolicy(agentPolicy({}, { agentIdRiskLevels: 'severe' }))).toBe(false);
    expect(validatePolicy.errors?.map((e) => e.instancePath)).toEqual(['/conditions/agentIdRiskLevels']);
  });
});

describe('normalisePolicy: Graph document → evaluation model', () => {
  it('makes absent, null and empty conditions null', () => {
    const c = compiled(
      userPolicy(
        {},
        {
          userRiskLevels: [],
          signInRiskLevels: null,
          clientAppTypes: ['all'],
          platforms: { includePlatforms: [], excludePlatforms: null },
          locations: null,
          devices: { deviceFilter: null },
          clientApplications: { includeAgentIdServicePrincipals: [], agentIdServicePrincipalFilter: null },
        },
      ),
    );
    expect(c).toEqual({
      flows: null,
      agents: null,
      users: {
        include: ['All'],
        exclude: [],
        include_groups: [],
        exclude_groups: [],
        include_roles: [],
        exclude_roles: [],
        include_guest_types: null,
        exclude_guest_types: null,
      },
      applications: { include: ['All'], exclude: [], filter: null },
      agent_id_risk_levels: null,
      user_risk_levels: null,
      sign_in_risk_levels: null,
      locations: null,
      platforms: null,
      client_app_types: null,
      device_filter: null,
      grant: { operator: 'OR', controls: ['mfa'], authentication_strength: null },
      sign_in_frequency_seconds: null,
      unsupported: [],
    });
  });

  it('reads risk levels from a flags string or an array, lower-cased; platforms lower-cased', () => {
    expect(compiled(agentPolicy({}, { agentIdRiskLevels: 'medium, high' })).agent_id_risk_levels).toEqual([
      'medium',
      'high',
    ]);
    const c = compiled(
      userPolicy(
        {},
        {
          userRiskLevels: ['High'.toLowerCase()],
          platforms: { includePlatforms: ['iOS', 'macOS'], excludePlatforms: ['windowsPhone'] },
          clientAppTypes: ['browser', 'other'],
        },
      ),
    );
    expect(c.user_risk_levels).toEqual(['high']);
    expect(c.platforms).toEqual({ include: ['ios', 'macos'], exclude: ['windowsphone'] });
    expect(c.client_app_types).toEqual(['browser', 'other']);
  });

  it('merges the includeAgentIdBlueprints extension into the agents assignment, with the filter', () => {
    const c = compiled(
      agentPolicy(
        {},
        {
          clientApplications: {
            includeAgentIdServicePrincipals: ['agt-1'],
            includeAgentIdBlueprints: ['bp-1', 'agt-1'],
            excludeAgentIdServicePrincipals: ['agt-2'],
            agentIdServicePrincipalFilter: {
              mode: 'exclude',
              rule: 'CustomSecurityAttribute.AgentInfo_Tier -eq "Lab"',
            },
          },
        },
      ),
    );
    expect(c.agents).toEqual({
      include: ['agt-1', 'bp-1'],
      exclude: ['agt-2'],
      filter: {
        mode: 'exclude',
        dnf: [
          [
            {
              attr: 'CustomSecurityAttribute.AgentInfo_Tier',
              path: ['custom_security_attributes', 'AgentInfo', 'Tier'],
              op: 'eq',
              value: 'Lab',
            },
          ],
        ],
      },
    });
  });

  it('splits guest types; converts sign-in frequency to seconds; maps built-in strengths', () => {
    const c = compiled(
      userPolicy(
        {
          grantControls: {
            operator: 'AND',
            builtInControls: ['compliantDevice', 'domainJoinedDevice'],
            authenticationStrength: { id: '00000000-0000-0000-0000-000000000003' },
          },
          sessionControls: {
            signInFrequency: { isEnabled: true, type: 'days', value: 2, frequencyInterval: 'timeBased' },
            persistentBrowser: { isEnabled: false, mode: 'never' },
            disableResilienceDefaults: false,
          },
        },
        {
          users: {
            includeUsers: ['GuestsOrExternalUsers'],
            excludeGuestsOrExternalUsers: {
              guestOrExternalUserTypes: 'b2bCollaborationGuest,serviceProvider',
              externalTenants: { membershipKind: 'all' },
            },
          },
        },
      ),
    );
    expect(c.users?.exclude_guest_types).toEqual(['b2bCollaborationGuest', 'serviceProvider']);
    expect(c.sign_in_frequency_seconds).toBe(2 * 86400);
    expect(c.grant).toEqual({
      operator: 'AND',
      controls: ['compliantDevice', 'domainJoinedDevice'],
      authentication_strength: 'passwordlessMfa',
    });
  });

  it.each([
    [
      '/grantControls/authenticationStrength',
      { grantControls: { authenticationStrength: { id: 'custom-1' } } },
      {},
    ],
    [
      '/grantControls/builtInControls/1',
      { grantControls: { builtInControls: ['mfa', 'approvedApplication'] } },
      {},
    ],
    ['/grantControls/termsOfUse', { grantControls: { builtInControls: ['mfa'], termsOfUse: ['tou-1'] } }, {}],
    [
      '/sessionControls/signInFrequency/frequencyInterval',
      { sessionControls: { signInFrequency: { isEnabled: true, frequencyInterval: 'everyTime' } } },
      {},
    ],
    [
      '/sessionControls/cloudAppSecurity',
      { sessionControls: { cloudAppSecurity: { isEnabled: true, cloudAppSecurityType: 'monitorOnly' } } },
      {},
    ],
    [
      '/sessionControls/continuousAccessEvaluation',
      { sessionControls: { continuousAccessEvaluation: { mode: 'strictLocation' } } },
      {},
    ],
    ['/conditions/servicePrincipalRiskLevels', {}, { servicePrincipalRiskLevels: ['high'] }],
    ['/conditions/insiderRiskLevels', {}, { insiderRiskLevels: 'elevated' }],
    ['/conditions/authenticationFlows', {}, { authenticationFlows: { transferMethods: 'deviceCodeFlow' } }],
    ['/conditions/devices/includeDevices', {}, { devices: { includeDevices: ['All'] } }],
    [
      '/conditions/applications/includeUserActions',
      {},
      { applications: { includeUserActions: ['urn:user:registersecurityinfo'] } },
    ],
    ['/conditions/userRiskLevels', {}, { userRiskLevels: ['hidden'] }],
    ['/conditions/clients', {}, { clients: { includeClients: ['x'] } }],
    [
      '/conditions/signInRiskDetections',
      {},
      { signInRiskDetections: { includeSignInRiskDetections: ['x'] } },
    ],
    ['/conditions/agents', {}, { agents: { includeAgents: ['x'] } }],
    [
      '/conditions/users/includeGuestsOrExternalUsers/externalTenants',
      {},
      {
        users: {
          includeGuestsOrExternalUsers: {
            guestOrExternalUserTypes: 'b2bCollaborationGuest',
            externalTenants: { membershipKind: 'enumerated', members: ['t-1'] },
          },
        },
      },
    ],
  ])('keeps %s in unsupported (report-only), and rejects it when enforced', (pointer, extra, conditions) => {
    const doc = userPolicy({ state: 'enabledForReportingButNotEnforced', ...extra }, conditions);
    expect(validatePolicy(doc)).toBe(true);
    const reportOnly = normalisePolicy(doc, 'p');
    expect(reportOnly.problems).toEqual([]);
    expect(reportOnly.policy.compiled.unsupported).toEqual([pointer]);
    const enforced = normalisePolicy({ ...doc, state: 'enabled' }, 'p');
    expect(enforced.problems).toEqual([
      expect.objectContaining({ pointer, keyword: 'unsupportedCondition' }),
    ]);
  });

  it('lets an agent-identity policy only block (also when disabled), with agentControls', () => {
    const mfa = normalisePolicy(
      agentPolicy({ state: 'disabled', grantControls: { builtInControls: ['block', 'mfa'] } }),
      'p',
    );
    expect(mfa.problems).toEqual([
      expect.objectContaining({
        pointer: '/grantControls/builtInControls/1',
        keyword: 'agentIdentityControl',
      }),
    ]);
    const sif = normalisePolicy(
      agentPolicy({ sessionControls: { signInFrequency: { isEnabled: true, type: 'hours', value: 1 } } }),
      'p',
    );
    expect(sif.problems.map((p) => p.pointer)).toEqual(['/sessionControls/signInFrequency']);
    const narrowing = normalisePolicy(
      agentPolicy({
        grantControls: null,
        agentControls: { allowedScopes: ['a.read'], maxTokenTtlSeconds: 600 },
      }),
      'p',
    );
    expect(narrowing.problems).toEqual([]);
    expect(narrowing.policy.agentControls).toEqual({ allowedScopes: ['a.read'], maxTokenTtlSeconds: 600 });
    // The flows extension decides whom a policy applies to: without autonomous, MFA is fine.
    const obo = normalisePolicy(
      agentPolicy({ grantControls: { builtInControls: ['mfa'] } }, { flows: ['on_behalf_of'] }),
      'p',
    );
    expect(obo.problems).toEqual([]);
    // ... and with autonomous, a user policy becomes one that must only block.
    const opted = normalisePolicy(userPolicy({}, { flows: ['autonomous', 'on_behalf_of'] }), 'p');
    expect(opted.problems.map((p) => p.keyword)).toEqual(['agentIdentityControl']);
  });

  it('reports a filter that does not parse alone, not as a policy that assigns nobody', () => {
    const bad = normalisePolicy(
      agentPolicy(
        {},
        {
          clientApplications: {
            agentIdServicePrincipalFilter: { mode: 'include', rule: 'attributes.x constructor "y"' },
          },
          users: null,
        },
      ),
      'p',
    );
    expect(bad.problems).toEqual([
      expect.objectContaining({
        pointer: '/conditions/clientApplications/agentIdServicePrincipalFilter/rule',
        keyword: 'filterRule',
        message: expect.stringMatching(/expected one of -eq/) as unknown,
      }),
    ]);
  });

  it('rejects a policy that assigns both agents and users, or nobody, unless flows says whom', () => {
    const both = normalisePolicy(agentPolicy({}, { users: { includeUsers: ['All'] } }), 'p');
    expect(both.problems.map((p) => [p.pointer, p.keyword])).toEqual([['/conditions/users', 'assignment']]);
    const nobody = normalisePolicy(userPolicy({}, { users: null }), 'p');
    expect(nobody.problems.map((p) => [p.pointer, p.keyword])).toEqual([['/conditions', 'assignment']]);
    const flows = normalisePolicy(
      agentPolicy({}, { users: { includeUsers: ['All'] }, flows: ['autonomous', 'on_behalf_of'] }),
      'p',
    );
    expect(flows.problems).toEqual([]);
  });
});

describe('loading Graph documents from the data directory', () => {
  it("loads Microsoft's agent policies, a Graph list export and a named-locations export unmodified", async () => {
    const dir = await dataDir(
      {},
      {
        't/conditional-access/Block all agent identities.json': 'block-all-agent-identities.json',
        't/conditional-access/block-high-risk-agent-identities.json': 'block-high-risk-agent-identities.json',
        't/conditional-access/export.json': 'policies-export.json',
        't/named-locations.json': 'named-locations-export.json',
      },
    );
    // A file name that is no valid id: a POST body without id must live in a file named like one.
    await expect(new TenantDataCompiler().compile({}, dir)).rejects.toMatchObject({
      details: [expect.objectContaining({ policy_id: 'Block all agent identities', keyword: 'id' })],
    });
    const ok = await dataDir(
      {},
      {
        't/conditional-access/block-all-agent-identities.json': 'block-all-agent-identities.json',
        't/conditional-access/block-high-risk-agent-identities.json': 'block-high-risk-agent-identities.json',
        't/conditional-access/export.json': 'policies-export.json',
        't/named-locations.json': 'named-locations-export.json',
      },
    );
    const t = (await new TenantDataCompiler().compile({}, ok))['t']!;
    expect(t.policies.map((p) => [p.id, p.state])).toEqual([
      ['0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 'enabled'],
      ['6b2c1f0e-3d4a-4c8b-9e7f-0a1b2c3d4e5f', 'enabled'],
      ['9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a', 'enabled'],
      ['block-all-agent-identities', 'enabledForReportingButNotEnforced'],
      ['block-high-risk-agent-identities', 'enabled'],
    ]);
    const byId = new Map(t.policies.map((p) => [p.id, p.compiled]));
    expect(byId.get('block-high-risk-agent-identities')).toMatchObject({
      agents: { include: ['All'], exclude: [], filter: null },
      users: { include: ['None'] },
      agent_id_risk_levels: ['high'],
      client_app_types: null,
      grant: { operator: 'OR', controls: ['block'], authentication_strength: null },
    });
    expect(byId.get('6b2c1f0e-3d4a-4c8b-9e7f-0a1b2c3d4e5f')).toMatchObject({
      agents: null,
      users: { include: ['AllAgentIdUsers'] },
      applications: { include: ['All'] },
    });
    expect(byId.get('9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a')?.applications?.include).toEqual([
      'AllAgentIdResources',
    ]);
    expect(byId.get('0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6')).toMatchObject({
      users: {
        include: [],
        include_groups: ['a1b2c3d4-0000-4000-8000-000000000001'],
        exclude_roles: ['62e90394-69f5-4237-9190-012177145e10'],
        include_guest_types: ['internalGuest', 'b2bCollaborationGuest'],
        exclude_guest_types: null,
      },
      agent_id_risk_levels: ['medium', 'high'],
      user_risk_levels: ['medium', 'high'],
      locations: {
        include: ['All'],
        exclude: [
          'AllTrusted',
          '3d46dbda-8382-466a-856d-eb00cbc6b910',
          'e1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b',
        ],
      },
      platforms: { include: ['all'], exclude: ['ios'] },
      client_app_types: ['browser', 'mobileAppsAndDesktopClients'],
      device_filter: {
        mode: 'exclude',
        dnf: [
          [
            { attr: 'device.trustType', path: ['trust_type'], op: 'eq', value: 'azuread', ci: true },
            { attr: 'device.isCompliant', path: ['compliant'], op: 'eq', value: true },
          ],
        ],
      },
      applications: {
        filter: {
          mode: 'exclude',
          dnf: [
            [expect.objectContaining({ path: ['custom_security_attributes', 'Resource', 'Sensitivity'] })],
          ],
        },
      },
      grant: { operator: 'AND', controls: [], authentication_strength: 'phishingResistantMfa' },
      sign_in_frequency_seconds: 4 * 3600,
      unsupported: [],
    });
    expect(t.named_locations).toEqual([
      {
        id: 'e1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b',
        displayName: 'Head office',
        isTrusted: true,
        ipRanges: ['203.0.113.0/24', '2001:db8:abcd::/48'],
      },
      {
        id: 'f0e1d2c3-b4a5-4968-8778-695a4b3c2d1e',
        displayName: 'Sanctioned countries',
        countriesAndRegions: ['KP', 'IR'],
        includeUnknownCountriesAndRegions: true,
      },
    ]);
    // Nothing of the Graph documents reaches the WASM data but the evaluation model.
    expect(JSON.stringify(t)).not.toContain('createdDateTime');
  });

  it.each([
    [
      'a misspelt property',
      { conditions: { clientAppType: ['all'] } },
      '/conditions/clientAppType',
      'additionalProperties',
    ],
    [
      'a non-block control on an agent-identity policy',
      { grantControls: { operator: 'OR', builtInControls: ['compliantDevice'] } },
      '/grantControls/builtInControls/0',
      'agentIdentityControl',
    ],
    [
      'an unsupported enforced condition',
      { conditions: { insiderRiskLevels: 'elevated' } },
      '/conditions/insiderRiskLevels',
      'unsupportedCondition',
    ],
  ])('rejects %s with file, policy id and pointer', async (_name, change, pointer, keyword) => {
    const base = agentPolicy();
    const doc = {
      ...base,
      ...change,
      conditions: { ...base.conditions, ...(change as { conditions?: object }).conditions },
    };
    const dir = await dataDir({ 't/conditional-access/bad.json': { value: [{ id: 'p-1', ...doc }] } });
    const err = await rejection(dir);
    expect(err.details).toEqual([
      expect.objectContaining({
        file: path.join(dir, 't/conditional-access/bad.json'),
        policy_id: 'p-1',
        pointer: `/value/0${pointer}`,
        keyword,
      }),
    ]);
  });

  it('takes the id from the file name, requires one in a collection, refuses one id in two files and a page of a list', async () => {
    const ok = await new TenantDataCompiler().compile(
      {},
      await dataDir({ 't/conditional-access/by-name.json': agentPolicy() }),
    );
    expect(ok['t']!.policies.map((p) => p.id)).toEqual(['by-name']);
    const dir = await dataDir({
      't/conditional-access/a.json': { value: [agentPolicy(), { id: 'dup', ...agentPolicy() }] },
      't/conditional-access/b.json': { id: 'dup', ...agentPolicy() },
      't/conditional-access/c.json': { '@odata.context': 'x', value: {}, nextLink: 'y' },
      't/conditional-access/d.json': {
        '@odata.nextLink': 'https://graph.microsoft.com/beta/x?$skiptoken=1',
        value: [],
      },
      't/named-locations.json': { '@odata.nextLink': 'https://graph.microsoft.com/beta/y', value: [] },
    });
    const err = await rejection(dir);
    expect(err.details.map((d) => [path.basename(d.file ?? ''), d.pointer, d.keyword])).toEqual(
      expect.arrayContaining([
        ['a.json', '/value/0/id', 'required'],
        ['b.json', '/id', 'uniqueId'],
        ['c.json', '/nextLink', 'additionalProperties'],
        ['c.json', '/value', 'type'],
        ['d.json', '/@odata.nextLink', 'nextLink'],
        ['named-locations.json', '/@odata.nextLink', 'nextLink'],
      ]),
    );
  });

  it('keeps bundle data working, named locations as a plain array there', async () => {
    const tenants = await new TenantDataCompiler().compile(
      {
        tenants: {
          t: {
            conditional_access: [
              { id: 'p-1', ...userPolicy({}, { locations: { includeLocations: ['loc-1'] } }) },
            ],
            named_locations: [{ id: 'loc-1', displayName: 'l', countriesAndRegions: ['FR'] }],
          },
        },
      },
      null,
    );
    expect(tenants['t']!.named_locations).toEqual([
      {
        id: 'loc-1',
        displayName: 'l',
        countriesAndRegions: ['FR'],
        includeUnknownCountriesAndRegions: false,
      },
    ]);
    expect(tenants['t']!.policies[0]!.compiled.locations).toEqual({ include: ['loc-1'], exclude: [] });
  });

  it('checks location references: unknown ids, reserved ids, Authenticator GPS lookups on enforced policies', async () => {
    const locations = {
      value: [
        {
          '@odata.type': '#microsoft.graph.countryNamedLocation',
          id: 'gps',
          displayName: 'g',
          countriesAndRegions: ['FR'],
          countryLookupMethod: 'authenticatorAppGps',
        },
        {
          '@odata.type': '#microsoft.graph.ipNamedLocation',
          id: 'AllTrusted',
          displayName: 'x',
          ipRanges: [],
        },
        { '@odata.type': '#microsoft.graph.compliantNetworkNamedLocation', id: 'cn', displayName: 'x' },
      ],
    };
    const dir = await dataDir({
      't/named-locations.json': locations,
      't/conditional-access/enforced.json': userPolicy(
        {},
        { locations: { includeLocations: ['gps', 'nowhere'] } },
      ),
      't/conditional-access/trial.json': userPolicy(
        { state: 'enabledForReportingButNotEnforced' },
        { locations: { includeLocations: ['gps', '3d46dbda-8382-466a-856d-eb00cbc6b910', 'AllTrusted'] } },
      ),
    });
    const err = await rejection(dir);
    expect(err.details.map((d) => [path.basename(d.file ?? ''), d.pointer, d.keyword])).toEqual([
      ['named-locations.json', '/value/1/id', 'uniqueId'],
      ['named-locations.json', '/value/2/@odata.type', 'enum'],
      ['enforced.json', '/conditions/locations/includeLocations/0', 'unsupportedCondition'],
      ['enforced.json', '/conditions/locations/includeLocations/1', 'namedLocation'],
    ]);
    // Without the enforced document and the bad locations, the report-only one loads, GPS flagged.
    const ok = await dataDir({
      't/named-locations.json': { value: locations.value.slice(0, 1) },
      't/conditional-access/trial.json': userPolicy(
        { state: 'enabledForReportingButNotEnforced' },
        { locations: { includeLocations: ['gps', '3d46dbda-8382-466a-856d-eb00cbc6b910', 'AllTrusted'] } },
      ),
    });
    const trial = (await new TenantDataCompiler().compile({}, ok))['t']!.policies[0]!;
    expect(trial.compiled.unsupported).toEqual(['/conditions/locations/includeLocations/0']);
    expect(trial.compiled.locations?.include).toEqual([
      'gps',
      '3d46dbda-8382-466a-856d-eb00cbc6b910',
      'AllTrusted',
    ]);
  });
});
