import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestPki, type TestPki } from '../helpers/certs';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';
import { TestIssuer } from '../helpers/tokens';

const CALLER_ISSUER = 'https://idp.platform.example';

/**
 * The admin port of a cluster is served by the primary, which built its caller authentication
 * from API keys only: with JWT callers configured, GET /v1/policies answered 200 to anyone
 * (issue 8, defect 6). Each mode: an unauthenticated caller is refused, an authorised one served.
 */
describe('admin port caller authentication in cluster mode (PDP_WORKERS=2)', () => {
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

  const cluster = (env: Record<string, string>) =>
    PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '2', LOG_LEVEL: 'warn', ...env });

  it('API keys: refuses a request without a key, serves an admin key', async () => {
    const key = 'ops-secret';
    const sha = createHash('sha256').update(key).digest('hex');
    pdp = await cluster({ PDP_API_KEYS: `ops:${sha}:admin` });
    expect((await pdp.adminGet('/v1/policies')).status).toBe(401);
    expect((await pdp.adminGet('/v1/policies', { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
    const ok = await pdp.adminGet('/v1/policies', { headers: { 'x-api-key': key } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).workers).toHaveLength(2);
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

    const callerToken = (roles: string[]) =>
      idp.token({ aud: 'agent-pdp', sub: 'ops-console', azp: undefined, roles: undefined, pdp_roles: roles });

    it('refuses a request without a token (it got 200), a role it lacks, and serves an admin', async () => {
      pdp = await cluster({
        PDP_CALLER_ISSUER: CALLER_ISSUER,
        PDP_CALLER_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
        PDP_CALLER_AUDIENCE: 'agent-pdp',
        PDP_CALLER_ROLES_CLAIM: 'pdp_roles',
      });
      const anonymous = await pdp.adminGet('/v1/policies');
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'unauthenticated' } });
      const decider = await callerToken(['decide']);
      expect(
        (await pdp.adminGet('/v1/policies', { headers: { authorization: `Bearer ${decider}` } })).status,
      ).toBe(403);
      const admin = await callerToken(['admin']);
      expect(
        (await pdp.adminGet('/v1/policies', { headers: { authorization: `Bearer ${admin}` } })).status,
      ).toBe(200);
      // Probes stay open.
      expect((await pdp.adminGet('/healthz')).status).toBe(200);
    }, 60_000);
  });

  describe('mutual TLS', () => {
    let pki: TestPki;

    beforeAll(() => {
      pki = createTestPki();
    });

    it('serves HTTPS like the API port; without a client certificate only probes answer', async () => {
      pdp = await cluster({
        PDP_TLS_CERT: pki.file('server.crt'),
        PDP_TLS_KEY: pki.file('server.key'),
        PDP_TLS_CLIENT_CA: pki.file('ca.crt'),
      });
      const ca = pki.read('ca.crt');
      expect((await pdp.adminGet('/healthz', { tls: { ca } })).status).toBe(200);
      expect((await pdp.adminGet('/readyz', { tls: { ca } })).status).toBe(200);
      expect((await pdp.adminGet('/v1/policies', { tls: { ca } })).status).toBe(401);
      const client = { ca, cert: pki.read('client.crt'), key: pki.read('client.key') };
      const ok = await pdp.adminGet('/v1/policies', { tls: client });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.text).workers).toHaveLength(2);
    }, 60_000);
  });
});
