/**
 * Issue 8, defect 2: a CA document naming "__proto__" (excludeUsers: ["__proto__"]) wrote onto
 * Object.prototype while the index was compiled; decisions then failed validation (400) and the
 * metrics labels threw. Values that are Object.prototype's own names must load and mean exactly
 * what they say, through the real WASM policy.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { DecideRequest } from '../../src/schemas/requests';
import { TenantDataCompiler } from '../../src/engine/tenant-data';
import { MemoryStore } from '../../src/store/memory-store';
import { makeApp, makeEngine, type TestApp } from '../helpers/app';

/** Names an object inherits, and the one that is an accessor on Object.prototype. */
const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

function expectPrototypeClean(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(
    [
      '__defineGetter__',
      '__defineSetter__',
      '__lookupGetter__',
      '__lookupSetter__',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'isPrototypeOf',
      'propertyIsEnumerable',
      'toLocaleString',
      'toString',
      'valueOf',
    ].sort(),
  );
  // Nothing enumerable: an inherited enumerable key is what broke ajv and prom-client.
  const inherited: string[] = [];
  for (const key in {}) inherited.push(key);
  expect(inherited).toEqual([]);
}

async function dataDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pdp-proto-'));
  for (const [name, doc] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), JSON.stringify(doc));
  }
  return dir;
}

/** The document of the report, as a security team would drop it in. */
const REPORTED = {
  id: 'ca-report-proto',
  displayName: 'Report-only MFA for everyone but one account',
  state: 'enabledForReportingButNotEnforced',
  conditions: {
    users: { includeUsers: ['All'], excludeUsers: ['__proto__'] },
    applications: { includeApplications: ['All'] },
  },
  grantControls: { operator: 'OR', builtInControls: ['mfa'] },
};

const block = (id: string, conditions: Record<string, unknown>) => ({
  id,
  displayName: id,
  state: 'enabled',
  conditions: { applications: { includeApplications: ['All'] }, ...conditions },
  grantControls: { builtInControls: ['block'] },
});

/** Agents on blueprint bp-1, which permits api://payments and the resource named `resource`. */
async function store(agents: string[], resource = '__proto__'): Promise<MemoryStore> {
  const s = new MemoryStore();
  await s.put('blueprint', 'default', 'bp-1', {
    id: 'bp-1',
    enabled: true,
    // A computed key: `__proto__: x` in a literal would set the prototype instead.
    permissions: { 'api://payments': ['payments.read'], [resource]: ['payments.read'] },
    attributes: {},
  });
  for (const id of agents) {
    await s.put('agent', 'default', id, {
      id,
      blueprint_id: 'bp-1',
      enabled: true,
      sponsors: ['u-1'],
      // JSON.parse-made: "__proto__" is an own key here, as it would be read back from a store.
      attributes: JSON.parse(`{"tier":${JSON.stringify(id)},"__proto__":"proto-value"}`) as Record<
        string,
        unknown
      >,
    });
  }
  return s;
}

const obo = (user: string, extra: Partial<DecideRequest> = {}): DecideRequest => ({
  tenant: 'default',
  flow: 'on_behalf_of',
  agent_id: 'agt-1',
  resource: 'api://payments',
  scopes: ['payments.read'],
  user: { id: user },
  ...extra,
});

describe('CA documents that name Object.prototype members (issue 8, defect 2)', () => {
  let dir: string;
  let t: TestApp;
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    expectPrototypeClean();
  });

  it('loads the reported document; decisions keep answering 200, and only the user "__proto__" is excluded', async () => {
    dir = await dataDir({ 'default/conditional-access/ca-report-proto.json': REPORTED });
    const engine = await makeEngine({ dataDir: dir });
    t = await makeApp({ engine, store: await store(['agt-1']) });
    expectPrototypeClean();

    // Through the API, as many times as it took to break before: validation, WASM, metrics.
    for (let i = 0; i < 20; i++) {
      const res = await request(t.api).post('/v1/decide').send(obo('alice')).expect(200);
      expect(res.body.decision).toBe('allow');
      expect(res.body.policies).toEqual([
        expect.objectContaining({ id: 'ca-report-proto', result: 'reportOnlyFailure' }),
      ]);
    }
    await request(t.api).post('/v1/decide').send({ nope: 1 }).expect(400);
    expect(await t.metrics.registry.metrics()).toMatch(
      /pdp_decision_duration_seconds_count\{endpoint="decide",decision="allow"\} 20/,
    );

    // "__proto__" cannot be a user id in a decide body; the service takes it as a token's oid would.
    const excluded = await t.decisions.decide(obo('__proto__'));
    expect(excluded.policies).toEqual([
      expect.objectContaining({ id: 'ca-report-proto', result: 'reportOnlyNotApplied', reason: 'users' }),
    ]);
    for (const user of PROTO_NAMES.filter((n) => n !== '__proto__')) {
      const other = await t.decisions.decide(obo(user));
      expect(other.policies).toEqual([expect.objectContaining({ result: 'reportOnlyFailure' })]);
    }
  });

  it('keeps the "__proto__" key an own key of the compiled index, through JSON into the WASM data', async () => {
    dir = await dataDir({ 'default/conditional-access/ca-report-proto.json': REPORTED });
    const compiled = await new TenantDataCompiler().compile({}, dir);
    const index = compiled['default']!.ca_index;
    expect(Object.hasOwn(index.users!.exclude!, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(index.users!.exclude)).toBeNull();
    const json = JSON.stringify(index.users);
    expect(json).toBe(
      // The policy by its key, its position ("0").
      '{"exclude":{"__proto__":{"0":2}},"all_users":{"0":true},"without_user":{"0":2}}',
    );
    // The engine hands the WASM exactly this text for the tenant.
    const engine = await makeEngine({ dataDir: dir });
    expect(engine.current!.policy.tenantJson('default')).toContain(`"users":${json}`);
    // And back: JSON.parse defines "__proto__" as an own key, so the round trip is exact.
    expect(JSON.stringify(JSON.parse(json))).toBe(json);
    expect(Object.hasOwn((JSON.parse(json) as { exclude: object }).exclude, '__proto__')).toBe(true);
  });

  it.each(PROTO_NAMES)(
    'means exactly the value %j as a user, agent, blueprint, application, location and filter value',
    async (name) => {
      const locationId = name === '__proto__' ? 'loc-proto' : name; // location ids start with a letter or digit
      const policies = [
        block('ca-users', { users: { includeUsers: ['All'], excludeUsers: [name] } }),
        block('ca-only-user', { users: { includeUsers: [name] } }),
        block('ca-agents', { clientApplications: { includeAgentIdServicePrincipals: [name] } }),
        block('ca-blueprints', { clientApplications: { includeAgentIdBlueprints: [name] } }),
        {
          ...block('ca-apps', {}),
          conditions: { users: { includeUsers: ['All'] }, applications: { includeApplications: [name] } },
        },
        block('ca-location', {
          users: { includeUsers: ['All'] },
          locations: { includeLocations: [locationId] },
        }),
        block('ca-filter', {
          clientApplications: {
            agentIdServicePrincipalFilter: {
              mode: 'include',
              rule: `attributes.tier -eq ${JSON.stringify(name)} -or attributes.__proto__ -in ["${name}"]`,
            },
          },
        }),
      ];
      const files: Record<string, unknown> = {
        'default/named-locations.json': {
          value: [{ id: locationId, displayName: name, ipRanges: [{ cidrAddress: '192.0.2.0/24' }] }],
        },
      };
      for (const p of policies) files[`default/conditional-access/${p.id}.json`] = p;
      dir = await dataDir(files);
      const engine = await makeEngine({ dataDir: dir });
      t = await makeApp({ engine, store: await store(['agt-1', name], name) });
      expectPrototypeClean();

      const blockedBy = async (req: DecideRequest): Promise<string[]> => {
        const out = await t.decisions.decide(req);
        return out.reasons.filter((r) => r.code === 'ca_block').map((r) => r.policy_id ?? '');
      };
      // An ordinary request: only the "everyone but <name>" policy applies.
      expect(await blockedBy(obo('alice'))).toEqual(['ca-users']);
      // The user named <name>: excluded from ca-users, included in ca-only-user.
      expect(await blockedBy(obo(name))).toEqual(['ca-only-user']);
      // The agent named <name>, whose tier attribute is <name>, on its own token: ca-agents,
      // ca-filter and ca-blueprints (agent-identity policies; agent, blueprint and blueprint
      // principal ids share one namespace, as Graph object ids do; the users policies are not
      // for an agent's own token).
      const alone = (extra: Partial<DecideRequest> = {}): DecideRequest => {
        const { user: _user, ...rest } = obo('alice', extra);
        return { ...rest, flow: 'autonomous' };
      };
      expect((await blockedBy(alone({ agent_id: name }))).sort()).toEqual([
        'ca-agents',
        'ca-blueprints',
        'ca-filter',
      ]);
      expect(await blockedBy(alone())).toEqual([]);
      // The resource named <name>: ca-apps applies; the blueprint named <name> is not bp-1.
      expect((await blockedBy(obo('alice', { resource: name }))).sort()).toEqual(['ca-apps', 'ca-users']);
      const app = await t.decisions.decide(alone({ resource: name }));
      expect(app.policies.find((p) => p.id === 'ca-blueprints')).toMatchObject({
        result: 'notApplied',
        reason: 'agentIdentities',
      });
      // A client in the location named <name>.
      expect((await blockedBy(obo('alice', { client: { ip: '192.0.2.9' } }))).sort()).toEqual([
        'ca-location',
        'ca-users',
      ]);
    },
    30_000,
  );

  it('refuses a filter whose operator is a name Object.prototype has', async () => {
    for (const op of ['constructor', '__proto__', 'toString']) {
      dir = await dataDir({
        'default/conditional-access/ca-f.json': block('ca-f', {
          clientApplications: {
            agentIdServicePrincipalFilter: { mode: 'include', rule: `attributes.tier ${op} "x"` },
          },
        }),
      });
      await expect(makeEngine({ dataDir: dir })).rejects.toMatchObject({
        code: 'data_invalid',
        details: [
          expect.objectContaining({
            policy_id: 'ca-f',
            pointer: '/conditions/clientApplications/agentIdServicePrincipalFilter/rule',
            message: expect.stringMatching(/expected one of -eq/),
          }),
        ],
      });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
