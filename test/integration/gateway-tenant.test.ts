/**
 * The gateway's tenant: named by X-PDP-Tenant, or else the one the verified token's trusted issuer
 * names. A single-tenant gateway set up from the README sends no header; a header that disagrees
 * with the token is refused; one issuer cannot be trusted for two tenants.
 */
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { AgentTokenVerifier } from '../../src/auth/agent-tokens';
import { parseTrustedIssuers } from '../../src/settings';
import { EXAMPLE_DATA, EXAMPLE_DIRECTORY, makeApp, makeEngine, type TestApp } from '../helpers/app';
import { TestIssuer } from '../helpers/tokens';

const ROUTES: Record<string, string> = {
  blueprints: 'blueprints',
  agents: 'agents',
  agent_users: 'agent-users',
  resources: 'resources',
};

/** The example directory's default tenant, written to `tenant` through the directory API. */
async function seedTenant(t: TestApp, tenant: string): Promise<void> {
  const directory = JSON.parse(await readFile(EXAMPLE_DIRECTORY, 'utf8')) as {
    tenants: { default: Record<string, Record<string, unknown>> };
  };
  for (const [section, records] of Object.entries(directory.tenants.default)) {
    const route = ROUTES[section];
    if (route === undefined) continue;
    for (const [id, record] of Object.entries(records)) {
      await request(t.api)
        .put(`/v1/tenants/${tenant}/${route}/${id}`)
        .send(record as object)
        .expect(200);
    }
  }
}

function check(t: TestApp, token: string, tenant?: string) {
  const req = request(t.api)
    .get('/v1/authorize')
    .set('x-original-method', 'GET')
    .set('x-original-uri', '/payments/42')
    .set('x-forwarded-for', '198.51.100.7')
    .set('authorization', `Bearer ${token}`);
  return tenant === undefined ? req : req.set('x-pdp-tenant', tenant);
}

describe('the tenant of a gateway check', () => {
  let contoso: TestIssuer;
  let fabrikam: TestIssuer;
  let t: TestApp;

  beforeAll(async () => {
    // Two tenants with the example routes and policies: only the directory tells them apart.
    const data = await mkdtemp(path.join(tmpdir(), 'pdp-tenants-'));
    await cp(path.join(EXAMPLE_DATA, 'default'), path.join(data, 'contoso'), { recursive: true });
    await cp(path.join(EXAMPLE_DATA, 'default'), path.join(data, 'fabrikam'), { recursive: true });
    contoso = await TestIssuer.create(Date.now, 'https://login.agents.example/contoso/v2.0');
    fabrikam = await TestIssuer.create(Date.now, 'https://login.agents.example/fabrikam/v2.0');
    t = await makeApp({
      engine: await makeEngine({ dataDir: data }),
      trustedIssuers: [contoso.trusted({ tenant: 'contoso' }), fabrikam.trusted({ tenant: 'fabrikam' })],
    });
    await seedTenant(t, 'contoso');
  });

  it("without X-PDP-Tenant decides in the tenant the token's issuer is trusted for", async () => {
    const res = await check(t, await contoso.token()).expect(200);
    expect(res.headers['x-agent-id']).toBe('agt-7f3a');
    // fabrikam's directory is empty: the same agent is unknown there, so the tenant really is the issuer's.
    const other = await check(t, await fabrikam.token()).expect(403);
    expect(other.body.reasons.map((r: { code: string }) => r.code)).toContain('agent_not_found');
  });

  it('with a header that names the same tenant, decides alike', async () => {
    await check(t, await contoso.token(), 'contoso').expect(200);
  });

  it("refuses (401) a header that names a tenant the token's issuer is not trusted for", async () => {
    for (const tenant of ['fabrikam', 'default']) {
      const res = await check(t, await contoso.token(), tenant).expect(401);
      expect(res.body.reasons[0].message).toBe('The token issuer is not trusted for this tenant');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    }
  });

  it('without a token and without a header, decides in the default tenant', async () => {
    const res = await request(t.api)
      .get('/v1/authorize')
      .set('x-original-method', 'GET')
      .set('x-original-uri', '/payments/42');
    // The default tenant has no data here: no route matches, and nothing is allowed.
    expect(res.status).toBe(403);
  });

  it("without a token and a header, uses the one tenant the trusted issuers name (401 for its route, not the default's 403)", async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'pdp-sole-'));
    await cp(path.join(EXAMPLE_DATA, 'default'), path.join(data, 'contoso'), { recursive: true });
    const single = await makeApp({
      engine: await makeEngine({ dataDir: data }),
      trustedIssuers: [contoso.trusted({ tenant: 'contoso' })],
    });
    const res = await request(single.api)
      .get('/v1/authorize')
      .set('x-original-method', 'GET')
      .set('x-original-uri', '/payments/42');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('refuses one issuer listed for two tenants, in the settings and in the verifier', () => {
    const entry = {
      issuer: 'https://login.agents.example/x/v2.0',
      audiences: ['api://a'],
      algorithms: ['ES256'],
    };
    const jwks = { keys: [] };
    expect(() =>
      parseTrustedIssuers(
        JSON.stringify([
          { ...entry, tenant: 'a', jwks_uri: 'https://keys.example/a' },
          { ...entry, tenant: 'b', jwks_uri: 'https://keys.example/b' },
        ]),
      ),
    ).toThrow(/listed twice/);
    expect(
      () =>
        new AgentTokenVerifier(
          [
            { ...entry, tenant: 'a', jwks },
            { ...entry, tenant: 'b', jwks },
          ] as never,
          { clock: Date.now, cacheMaxEntries: 0, maxTokenBytes: 16_384 } as never,
        ),
    ).toThrow(/listed twice/);
  });
});
