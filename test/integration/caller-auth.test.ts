import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { decideBody, makeApp, type TestApp } from '../helpers/app';
import { createTestPki, type TestPki } from '../helpers/certs';
import { PdpProcess } from '../helpers/pdp-process';
import { TestIssuer } from '../helpers/tokens';

const CALLER_ISSUER = 'https://idp.platform.example';

describe('JWT-authenticated callers', () => {
  let jwksServer: Server;
  let idp: TestIssuer;
  let t: TestApp;

  beforeAll(async () => {
    idp = await TestIssuer.create(Date.now, CALLER_ISSUER);
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(idp.jwks));
    });
    jwksServer.listen(0, '127.0.0.1');
    await once(jwksServer, 'listening');
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
    t = await makeApp({
      config: {
        callerIssuer: CALLER_ISSUER,
        callerJwksUrl: jwksUrl,
        callerAudience: 'agent-pdp',
        callerRolesClaim: 'pdp_roles',
      },
    });
  });
  afterAll(() => {
    jwksServer.close();
  });

  const callerToken = (claims: Record<string, unknown>) =>
    idp.token({ aud: 'agent-pdp', sub: 'svc-token-issuer', azp: undefined, roles: undefined, ...claims });

  it('admits a caller whose roles claim holds the role (array or space-separated)', async () => {
    const array = await callerToken({ pdp_roles: ['decide'] });
    await request(t.api)
      .post('/v1/decide')
      .set('authorization', `Bearer ${array}`)
      .send(decideBody())
      .expect(200);
    const spaced = await callerToken({ pdp_roles: 'author decide' });
    await request(t.api)
      .post('/v1/whatif')
      .set('authorization', `Bearer ${spaced}`)
      .send(decideBody())
      .expect(200);
  });

  it('refuses a missing role (403), a wrong audience, a foreign issuer and a bare string (401)', async () => {
    const issuerOnly = await callerToken({ pdp_roles: ['decide'] });
    await request(t.api)
      .put('/v1/tenants/default/signals/users/u-1/risk')
      .set('authorization', `Bearer ${issuerOnly}`)
      .send({ level: 'low' })
      .expect(403);
    const wrongAud = await callerToken({ pdp_roles: ['decide'], aud: 'someone-else' });
    await request(t.api)
      .post('/v1/decide')
      .set('authorization', `Bearer ${wrongAud}`)
      .send(decideBody())
      .expect(401);
    const foreign = await (
      await TestIssuer.create(Date.now, 'https://evil.example')
    ).token({ aud: 'agent-pdp', pdp_roles: ['decide'] });
    await request(t.api)
      .post('/v1/decide')
      .set('authorization', `Bearer ${foreign}`)
      .send(decideBody())
      .expect(401);
    await request(t.api)
      .post('/v1/decide')
      .set('authorization', 'Bearer not-a-jwt')
      .send(decideBody())
      .expect(401);
    await request(t.api).post('/v1/decide').send(decideBody()).expect(401);
  });
});

describe('TLS and mutual TLS (the real process)', () => {
  let pki: TestPki;
  const file = (name: string) => pki.file(name);
  let pdp: PdpProcess;

  beforeAll(async () => {
    pki = createTestPki();
    pdp = await PdpProcess.start({
      PDP_TLS_CERT: file('server.crt'),
      PDP_TLS_KEY: file('server.key'),
      PDP_TLS_CLIENT_CA: file('ca.crt'),
    });
  }, 30_000);
  afterAll(async () => {
    await pdp.stop();
  });

  const post = (withClientCert: boolean) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: pdp.port,
          path: '/v1/decide',
          method: 'POST',
          ca: readFileSync(file('ca.crt')),
          headers: { 'content-type': 'application/json' },
          ...(withClientCert && {
            cert: readFileSync(file('client.crt')),
            key: readFileSync(file('client.key')),
          }),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(decideBody()));
    });

  it('serves HTTPS to a client with a certificate from the trusted CA', async () => {
    expect(await post(true)).toBe(200);
  });

  it('refuses the TLS handshake without a client certificate', async () => {
    await expect(post(false)).rejects.toThrow();
  });

  it('serves the admin port over the same TLS: probes need no certificate, /v1/policies does', async () => {
    const ca = pki.read('ca.crt');
    expect((await pdp.adminGet('/healthz', { tls: { ca } })).status).toBe(200);
    expect((await pdp.adminGet('/readyz', { tls: { ca } })).status).toBe(200);
    const anonymous = await pdp.adminGet('/v1/policies', { tls: { ca } });
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'unauthenticated' } });
    const client = { ca, cert: pki.read('client.crt'), key: pki.read('client.key') };
    expect((await pdp.adminGet('/v1/policies', { tls: client })).status).toBe(200);
  });
});
