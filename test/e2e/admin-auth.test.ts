import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decideBody } from '../helpers/app';
import { createTestPki, type TestPki } from '../helpers/certs';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';
import { TestIssuer } from '../helpers/tokens';

const CALLER_ISSUER = 'https://idp.platform.example';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * The admin port enforces the caller authentication of the API port, in every mode, whether a
 * standalone process serves it or, in a cluster, the primary. The primary once built its caller
 * authentication from API keys only: with JWT callers configured, GET /v1/policies answered 200
 * to anyone (issue 8, defect 6). Each mode: an unauthenticated caller is refused, a caller without
 * the role is refused, an authorised one is served, and probes stay open. `workers` in the answer
 * shows which process served it: one worker standalone, both in a cluster.
 */
describe.each([
  ['standalone (PDP_WORKERS=1)', '1', 1],
  ['cluster (PDP_WORKERS=2, the primary serves the admin port)', '2', 2],
])('admin port caller authentication, %s', (_mode, workers, expectedWorkers) => {
  let redis: RedisProcess;
  let pdp: PdpProcess | null = null;

  beforeAll(async () => {
    redis = await RedisProcess.start();
  });
  afterEach(async () => {
    await pdp?.stop();
    pdp = null;
  });
  afterAll(async () => {
    await redis.stop();
  });

  const start = (env: Record<string, string>) =>
    PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: workers, LOG_LEVEL: 'warn', ...env });

  /** POST /v1/decide on the API port (plain HTTP) with the given headers; the status. */
  const decide = async (p: PdpProcess, headers: Record<string, string> = {}) =>
    (
      await fetch(p.url('/v1/decide'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(decideBody()),
        signal: AbortSignal.timeout(5000),
      })
    ).status;

  it('API keys: refuses no key and a wrong key (401) and a key without the role (403), serves an admin key', async () => {
    pdp = await start({
      PDP_API_KEYS: `ops:${sha256('ops-secret')}:admin,issuer:${sha256('issuer-secret')}:decide`,
    });
    const anonymous = await pdp.adminGet('/v1/policies');
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'unauthenticated' } });
    expect((await pdp.adminGet('/v1/policies', { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
    const issuer = await pdp.adminGet('/v1/policies', { headers: { 'x-api-key': 'issuer-secret' } });
    expect(issuer.status).toBe(403);
    expect(JSON.parse(issuer.text)).toMatchObject({ error: { code: 'forbidden' } });
    const ok = await pdp.adminGet('/v1/policies', { headers: { authorization: 'Bearer ops-secret' } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).workers).toHaveLength(expectedWorkers);
    // Probes stay open; the API port takes the same keys.
    expect((await pdp.adminGet('/healthz')).status).toBe(200);
    expect(await decide(pdp)).toBe(401);
    expect(await decide(pdp, { 'x-api-key': 'issuer-secret' })).toBe(200);
  }, 60_000);

  describe('JWT callers (a local JWKS)', () => {
    let idp: TestIssuer;
    let jwks: Server;

    beforeAll(async () => {
      idp = await TestIssuer.create(Date.now, CALLER_ISSUER);
      jwks = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(idp.jwks));
      });
      jwks.listen(0, '127.0.0.1');
      await once(jwks, 'listening');
    });
    afterAll(() => {
      jwks.close();
    });

    const callerToken = (roles: string[], aud = 'agent-pdp') =>
      idp.token({ aud, sub: 'ops-console', azp: undefined, roles: undefined, pdp_roles: roles });
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

    it('refuses no token and a wrong audience (401) and a role it lacks (403), serves an admin', async () => {
      pdp = await start({
        PDP_CALLER_ISSUER: CALLER_ISSUER,
        PDP_CALLER_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
        PDP_CALLER_AUDIENCE: 'agent-pdp',
        PDP_CALLER_ROLES_CLAIM: 'pdp_roles',
      });
      const anonymous = await pdp.adminGet('/v1/policies');
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'unauthenticated' } });
      const elsewhere = await callerToken(['admin'], 'someone-else');
      expect((await pdp.adminGet('/v1/policies', bearer(elsewhere))).status).toBe(401);
      const decider = await callerToken(['decide']);
      expect((await pdp.adminGet('/v1/policies', bearer(decider))).status).toBe(403);
      const admin = await callerToken(['admin']);
      const ok = await pdp.adminGet('/v1/policies', bearer(admin));
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.text).workers).toHaveLength(expectedWorkers);
      // Probes stay open; the API port takes the same tokens.
      expect((await pdp.adminGet('/healthz')).status).toBe(200);
      expect(await decide(pdp)).toBe(401);
      expect(await decide(pdp, { authorization: `Bearer ${decider}` })).toBe(200);
    }, 60_000);
  });

  describe('mutual TLS', () => {
    let pki: TestPki;

    beforeAll(() => {
      pki = createTestPki();
    });

    it('serves HTTPS like the API port; without a client certificate only probes answer', async () => {
      pdp = await start({
        PDP_TLS_CERT: pki.file('server.crt'),
        PDP_TLS_KEY: pki.file('server.key'),
        PDP_TLS_CLIENT_CA: pki.file('ca.crt'),
      });
      const ca = pki.read('ca.crt');
      expect((await pdp.adminGet('/healthz', { tls: { ca } })).status).toBe(200);
      expect((await pdp.adminGet('/readyz', { tls: { ca } })).status).toBe(200);
      const anonymous = await pdp.adminGet('/v1/policies', { tls: { ca } });
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'unauthenticated' } });
      // A certificate the server does not trust is no caller either.
      const stranger = createTestPki();
      const foreign = await pdp.adminGet('/v1/policies', {
        tls: { ca, cert: stranger.read('client.crt'), key: stranger.read('client.key') },
      });
      expect(foreign.status).toBe(401);
      const client = { ca, cert: pki.read('client.crt'), key: pki.read('client.key') };
      const ok = await pdp.adminGet('/v1/policies', { tls: client });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.text).workers).toHaveLength(expectedWorkers);
    }, 60_000);
  });
});
