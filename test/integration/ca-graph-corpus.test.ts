import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { DecideResponse } from '../../src/decision/service';
import { MemoryStore } from '../../src/store/memory-store';
import { ROOT, TestClock, makeApp, makeEngine, type TestApp } from '../helpers/app';

/**
 * Microsoft's published agent Conditional Access JSON, loaded unmodified through the real data-dir
 * loader and the compiled WASM: the report-only policies Microsoft publishes (the example tenant
 * carries the same bytes) and an enabled Graph list export with its named locations
 * (test/fixtures/graph-corpus/SOURCES.md names every source).
 */

const TENANT = 'contoso';
const EXAMPLE_CA = path.join(ROOT, 'policies/data/default/conditional-access');
const FIXTURES = path.join(ROOT, 'test/fixtures/graph-corpus');

// Policy ids: Graph ids from the export; the file name for the POST bodies that have none.
const MS_ALL_AGENTS = 'ms-block-all-agent-identities';
const MS_ALL_AGENT_USERS = 'ms-block-all-agent-users';
const MS_AGENT_RESOURCES = 'ms-block-users-from-agent-resources';
const MS_HIGH_RISK_TEMPLATE = 'ms-template-block-high-risk-agent-identities';
const HIGH_RISK_AGENTS = '2b1d6f3a-4c7e-4b8a-9f1e-0a6c3d5e7f11';
const RISKY_AGENT_USERS = '7c9e2a41-0d3b-4f6a-8e5c-1b2d3f4a5b62';
const USERS_TO_AGENT_RESOURCES = 'c3a8f0d2-6e1b-4a7c-b5d9-2e4f6a8c0b13';
const EXO_MFA = '7359d0e0-d8a9-4afa-8a93-e23e099d7be8';
const EXO_REGIONS = 'c98e6c3d-f6ca-42ea-a927-773b6f12a0c2';
const ALL_POLICIES = [
  MS_ALL_AGENTS,
  MS_ALL_AGENT_USERS,
  MS_AGENT_RESOURCES,
  MS_HIGH_RISK_TEMPLATE,
  HIGH_RISK_AGENTS,
  RISKY_AGENT_USERS,
  USERS_TO_AGENT_RESOURCES,
  EXO_MFA,
  EXO_REGIONS,
];

// The directory (DESIGN §3): a blueprint with its principal, two agents of it, the first agent's
// agent user, and two registered resources (Exchange Online by appId, payments by identifier URI).
const BLUEPRINT = '5a0c7e19-3b2d-4f8e-9a61-0c4d2e6f8b01';
const BLUEPRINT_PRINCIPAL = '5a0c7e19-3b2d-4f8e-9a61-0c4d2e6f8b02';
const AGENT = '9e4b1c27-6d8a-4f30-b2e5-7a1c3d5f9e11';
const TARGET_AGENT = '9e4b1c27-6d8a-4f30-b2e5-7a1c3d5f9e12';
const AGENT_USER = 'd6f2a8b4-1c3e-4a5d-8f7b-9e0c2a4b6d21';
const EXO = '00000002-0000-0ff1-ce00-000000000000';
const EXO_URI = 'https://outlook.office365.com';
const PAYMENTS = '3f4e5d6c-7b8a-4c9d-8e0f-1a2b3c4d5e31';
const USER = 'a702a13d-a437-4a07-8a7e-8c052de62dfd';
const GROUP = 'ba8e7ded-8b0f-4836-ba06-8ff1ecc5c8ba';

const CORP_V4 = { ip: '198.51.100.7', country: 'NL', app_type: 'browser' };
const CORP_V6 = { ip: '2001:db8:1::42', country: 'NL', app_type: 'browser' };
const UNTRUSTED = { ip: '203.0.113.7', country: 'NL', app_type: 'browser' };
const NON_TRUSTED_REGION = { ip: '203.0.113.9', country: 'KP', app_type: 'browser' };

/**
 * Writes a directory record through the directory API (the routes keep the store's indexes:
 * identifier URI → resource, blueprint principal → blueprint, agent → agent user).
 */
async function putRecord(
  api: TestApp['api'],
  route: 'agents' | 'blueprints' | 'agent-users' | 'resources',
  id: string,
  record: Record<string, unknown>,
): Promise<void> {
  const res = await request(api).put(`/v1/tenants/${TENANT}/${route}/${id}`).send(record);
  expect([res.status, res.body]).toEqual([200, expect.objectContaining({ id })]);
}

async function seedDirectory(api: TestApp['api']): Promise<void> {
  await putRecord(api, 'blueprints', BLUEPRINT, {
    display_name: 'Mail assistants',
    principal_id: BLUEPRINT_PRINCIPAL,
    enabled: true,
    permissions: {
      'api://payments': ['payments.read'],
      [EXO]: ['Mail.Read'],
      [TARGET_AGENT]: ['a2a.invoke'],
      [BLUEPRINT]: ['a2a.invoke'],
      [BLUEPRINT_PRINCIPAL]: ['a2a.invoke'],
    },
    max_ttl_seconds: 3600,
    attributes: {},
    custom_security_attributes: {},
  });
  for (const id of [AGENT, TARGET_AGENT])
    await putRecord(api, 'agents', id, {
      blueprint_id: BLUEPRINT,
      display_name: id === AGENT ? 'Mail assistant' : 'Scheduling agent',
      enabled: true,
      sponsors: [USER],
      attributes: {},
      custom_security_attributes: {},
    });
  await putRecord(api, 'agent-users', AGENT_USER, {
    agent_id: AGENT,
    enabled: true,
    custom_security_attributes: {},
  });
  await putRecord(api, 'resources', EXO, {
    display_name: 'Office 365 Exchange Online',
    identifier_uris: [EXO_URI],
    custom_security_attributes: {},
  });
  await putRecord(api, 'resources', PAYMENTS, {
    display_name: 'Payments API',
    identifier_uris: ['api://payments'],
    custom_security_attributes: {},
  });
}

const PUBLISHED = [
  `${MS_ALL_AGENTS}.json`,
  `${MS_ALL_AGENT_USERS}.json`,
  `${MS_AGENT_RESOURCES}.json`,
  `${MS_HIGH_RISK_TEMPLATE}.json`,
];

/** A data dir with one tenant holding the corpus documents byte-for-byte. */
function corpusDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pdp-ca-corpus-'));
  const ca = path.join(dir, TENANT, 'conditional-access');
  mkdirSync(ca, { recursive: true });
  for (const f of PUBLISHED) copyFileSync(path.join(FIXTURES, f), path.join(ca, f));
  copyFileSync(path.join(FIXTURES, 'conditional-access-policies.json'), path.join(ca, 'graph-export.json'));
  copyFileSync(path.join(FIXTURES, 'named-locations.json'), path.join(dir, TENANT, 'named-locations.json'));
  return dir;
}

describe('the example tenant carries the published documents', () => {
  it('byte-for-byte as in the corpus, and none of them enforced (npm start serves that tenant)', () => {
    const inExample = readdirSync(EXAMPLE_CA).filter((f) => f.startsWith('ms-'));
    expect(inExample.sort()).toEqual([...PUBLISHED].sort());
    for (const f of PUBLISHED) {
      const published = readFileSync(path.join(FIXTURES, f), 'utf8');
      expect([f, readFileSync(path.join(EXAMPLE_CA, f), 'utf8')]).toEqual([f, published]);
      // Enabled, "block all agent identities" would block every agent of the example tenant.
      expect([f, (JSON.parse(published) as { state: string }).state]).toEqual([
        f,
        'enabledForReportingButNotEnforced',
      ]);
    }
  });
});

type Expected = Record<string, [result: string, reason: string]>;

describe("Microsoft's published agent Conditional Access JSON, unmodified (WASM, real loader)", () => {
  let t: TestApp;
  let clock: TestClock;
  const dataDir = corpusDataDir();

  beforeEach(async () => {
    clock = new TestClock();
    const engine = await makeEngine({ dataDir, clock: clock.now });
    t = await makeApp({ clock: clock.now, engine, store: new MemoryStore() });
    await seedDirectory(t.api);
  });

  async function agentRisk(id: string, level: string): Promise<void> {
    await request(t.api)
      .put(`/v1/tenants/${TENANT}/signals/agents/${id}/risk`)
      .send({ level, state: 'atRisk' })
      .expect(200);
  }

  async function decide(body: Record<string, unknown>): Promise<DecideResponse> {
    const res = await request(t.api)
      .post('/v1/decide')
      .send({ tenant: TENANT, agent_id: AGENT, requested_ttl_seconds: 600, ...body });
    expect([res.status, res.body]).toEqual([200, expect.anything()]);
    return res.body as DecideResponse;
  }

  /** Every policy of the tenant is reported, with exactly these results and reasons. */
  function expectPolicies(out: DecideResponse, expected: Expected): void {
    expect(Object.keys(expected).sort()).toEqual([...ALL_POLICIES].sort());
    const seen = Object.fromEntries(out.policies.map((p) => [p.id, [p.result, p.reason]]));
    expect(seen).toEqual(expected);
  }

  const autonomous = {
    flow: 'autonomous',
    resource: 'api://payments',
    scopes: ['payments.read'],
    client: CORP_V4,
  };
  const obo = (over: Record<string, unknown> = {}) => ({
    flow: 'on_behalf_of',
    resource: 'api://payments',
    scopes: ['payments.read'],
    user: { id: USER, amr: ['pwd'], groups: [], roles: [] },
    client: CORP_V4,
    ...over,
  });
  const asAgentUser = (over: Record<string, unknown> = {}) => ({
    flow: 'agent_user',
    resource: 'api://payments',
    scopes: ['payments.read'],
    user: { id: AGENT_USER },
    client: CORP_V4,
    ...over,
  });

  it('loads every document: four published report-only policies and the five of the Graph export', () => {
    const tenant = t.engine.current!.tenants[TENANT]!;
    expect(tenant.policies.map((p) => p.id).sort()).toEqual([...ALL_POLICIES].sort());
  });

  describe('autonomous (the agent identity is the subject)', () => {
    it('only agent-identity policies apply; the published "block all agents" is report-only', async () => {
      const out = await decide(autonomous);
      expect(out.decision).toBe('allow');
      expect(out.grant?.scopes).toEqual(['payments.read']);
      expectPolicies(out, {
        [MS_ALL_AGENTS]: ['reportOnlyFailure', 'notSet'],
        [MS_ALL_AGENT_USERS]: ['reportOnlyNotApplied', 'agentIdentities'],
        [MS_AGENT_RESOURCES]: ['reportOnlyNotApplied', 'agentIdentities'],
        [MS_HIGH_RISK_TEMPLATE]: ['reportOnlyNotApplied', 'agentIdRisk'],
        [HIGH_RISK_AGENTS]: ['notApplied', 'agentIdRisk'],
        [RISKY_AGENT_USERS]: ['notApplied', 'agentIdentities'],
        [USERS_TO_AGENT_RESOURCES]: ['notApplied', 'agentIdentities'],
        [EXO_MFA]: ['notApplied', 'agentIdentities'],
        [EXO_REGIONS]: ['notApplied', 'agentIdentities'],
      });
    });

    it('the high-risk template blocks a high-risk agent identity (ca_block)', async () => {
      await agentRisk(AGENT, 'high');
      const out = await decide(autonomous);
      expect(out.decision).toBe('deny');
      expect(out.reasons.map((r) => r.code)).toEqual(['ca_block']);
      expect(out.reasons[0]?.policy_id).toBe(HIGH_RISK_AGENTS);
      const byId = new Map(out.policies.map((p) => [p.id, p]));
      expect(byId.get(HIGH_RISK_AGENTS)).toMatchObject({ result: 'failure', reason: 'notSet' });
      expect(byId.get(MS_HIGH_RISK_TEMPLATE)).toMatchObject({
        result: 'reportOnlyFailure',
        reason: 'notSet',
      });
    });

    it('agentIdRiskLevels "high" does not match medium', async () => {
      await agentRisk(AGENT, 'medium');
      const out = await decide(autonomous);
      expect(out.decision).toBe('allow');
      expect(out.policies.find((p) => p.id === HIGH_RISK_AGENTS)).toMatchObject({
        result: 'notApplied',
        reason: 'agentIdRisk',
      });
    });
  });

  describe('on behalf of a user (the user is the subject)', () => {
    it('includeUsers ["None"] never applies, even to a high-risk agent; AllAgentIdUsers never applies', async () => {
      await agentRisk(AGENT, 'high');
      const out = await decide(obo());
      expect(out.decision).toBe('allow');
      expectPolicies(out, {
        [MS_ALL_AGENTS]: ['reportOnlyNotApplied', 'users'],
        [MS_ALL_AGENT_USERS]: ['reportOnlyNotApplied', 'users'],
        [MS_AGENT_RESOURCES]: ['reportOnlyNotApplied', 'application'],
        [MS_HIGH_RISK_TEMPLATE]: ['reportOnlyNotApplied', 'users'],
        [HIGH_RISK_AGENTS]: ['notApplied', 'users'],
        [RISKY_AGENT_USERS]: ['notApplied', 'users'],
        [USERS_TO_AGENT_RESOURCES]: ['notApplied', 'application'],
        [EXO_MFA]: ['notApplied', 'application'],
        [EXO_REGIONS]: ['notApplied', 'users'],
      });
    });

    it.each([
      ['an agent identity', TARGET_AGENT],
      ['a blueprint', BLUEPRINT],
      ['a blueprint principal', BLUEPRINT_PRINCIPAL],
    ])('AllAgentIdResources applies when the resource is %s (ca_block)', async (_what, resource) => {
      const out = await decide(obo({ resource, scopes: ['a2a.invoke'] }));
      expect(out.decision).toBe('deny');
      expect(out.reasons.map((r) => r.code)).toEqual(['ca_block']);
      const byId = new Map(out.policies.map((p) => [p.id, p]));
      expect(byId.get(USERS_TO_AGENT_RESOURCES)).toMatchObject({ result: 'failure', reason: 'notSet' });
      expect(byId.get(MS_AGENT_RESOURCES)).toMatchObject({ result: 'reportOnlyFailure', reason: 'notSet' });
    });

    it('a resource named by identifier URI is the registered appId: MFA outside trusted locations', async () => {
      const out = await decide(obo({ resource: EXO_URI, scopes: ['Mail.Read'], client: UNTRUSTED }));
      expect(out.decision).toBe('deny');
      expect(out.reasons.map((r) => r.code)).toEqual(['ca_grant_unsatisfied']);
      expect(out.required_controls).toEqual(['mfa']);
      expect(out.policies.find((p) => p.id === EXO_MFA)).toMatchObject({
        result: 'failure',
        reason: 'notSet',
      });

      const mfa = await decide(
        obo({
          resource: EXO,
          scopes: ['Mail.Read'],
          client: UNTRUSTED,
          user: { id: USER, amr: ['pwd', 'mfa'] },
        }),
      );
      expect(mfa.decision).toBe('allow');
      expect(mfa.policies.find((p) => p.id === EXO_MFA)).toMatchObject({
        result: 'success',
        reason: 'notSet',
      });
    });

    it.each([
      ['an IPv4 trusted range', CORP_V4],
      ['an IPv6 trusted range', CORP_V6],
    ])('excludeLocations AllTrusted: %s of the named-locations export', async (_name, client) => {
      const out = await decide(obo({ resource: EXO_URI, scopes: ['Mail.Read'], client }));
      expect(out.decision).toBe('allow');
      expect(out.policies.find((p) => p.id === EXO_MFA)).toMatchObject({
        result: 'notApplied',
        reason: 'location',
      });
    });

    it('clientAppTypes: Exchange ActiveSync is outside "mobileAppsAndDesktopClients, browser"', async () => {
      const out = await decide(
        obo({
          resource: EXO_URI,
          scopes: ['Mail.Read'],
          client: { ...UNTRUSTED, app_type: 'exchangeActiveSync' },
        }),
      );
      expect(out.policies.find((p) => p.id === EXO_MFA)).toMatchObject({
        result: 'notApplied',
        reason: 'clientApps',
      });
    });

    it('includeGroups with a countryNamedLocation: the group member in a listed country is blocked', async () => {
      const member = { id: USER, amr: ['pwd', 'mfa'], groups: [GROUP], roles: [] };
      const out = await decide(
        obo({ resource: EXO, scopes: ['Mail.Read'], client: NON_TRUSTED_REGION, user: member }),
      );
      expect(out.decision).toBe('deny');
      expect(out.reasons.map((r) => [r.code, r.policy_id])).toEqual([['ca_block', EXO_REGIONS]]);
      const elsewhere = await decide(
        obo({ resource: EXO, scopes: ['Mail.Read'], client: UNTRUSTED, user: member }),
      );
      expect(elsewhere.decision).toBe('allow');
      expect(elsewhere.policies.find((p) => p.id === EXO_REGIONS)).toMatchObject({
        result: 'notApplied',
        reason: 'location',
      });
    });
  });

  describe("agent user (the agent's user account is the subject)", () => {
    it('AllAgentIdUsers with "medium,high" blocks at medium; "All users" policies do not touch agent users', async () => {
      await agentRisk(AGENT, 'medium');
      const out = await decide(asAgentUser());
      expect(out.decision).toBe('deny');
      expect(out.reasons.map((r) => [r.code, r.policy_id])).toEqual([['ca_block', RISKY_AGENT_USERS]]);
      expectPolicies(out, {
        [MS_ALL_AGENTS]: ['reportOnlyNotApplied', 'users'],
        [MS_ALL_AGENT_USERS]: ['reportOnlyFailure', 'notSet'],
        [MS_AGENT_RESOURCES]: ['reportOnlyNotApplied', 'users'],
        [MS_HIGH_RISK_TEMPLATE]: ['reportOnlyNotApplied', 'users'],
        [HIGH_RISK_AGENTS]: ['notApplied', 'users'],
        [RISKY_AGENT_USERS]: ['failure', 'notSet'],
        [USERS_TO_AGENT_RESOURCES]: ['notApplied', 'users'],
        [EXO_MFA]: ['notApplied', 'users'],
        [EXO_REGIONS]: ['notApplied', 'users'],
      });
    });

    it('"medium,high" does not match low', async () => {
      await agentRisk(AGENT, 'low');
      const out = await decide(asAgentUser());
      expect(out.decision).toBe('allow');
      expect(out.policies.find((p) => p.id === RISKY_AGENT_USERS)).toMatchObject({
        result: 'notApplied',
        reason: 'agentIdRisk',
      });
    });

    it('"All users" + AllAgentIdResources does not apply to an agent user calling an agent', async () => {
      const out = await decide(asAgentUser({ resource: TARGET_AGENT, scopes: ['a2a.invoke'] }));
      expect(out.decision).toBe('allow');
      expect(out.policies.find((p) => p.id === USERS_TO_AGENT_RESOURCES)).toMatchObject({
        result: 'notApplied',
        reason: 'users',
      });
      expect(out.policies.find((p) => p.id === MS_ALL_AGENT_USERS)).toMatchObject({
        result: 'reportOnlyFailure',
        reason: 'notSet',
      });
    });
  });
});
