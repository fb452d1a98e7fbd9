import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { createCallerAuth } from '../../src/auth/caller-auth';
import { decideBody, makeApp, type TestApp } from '../helpers/app';
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
    const auth = createCallerAuth({
      apiKeys: [],
      jwt: { issuer: CALLER_ISSUER, jwksUrl, audience: 'agent-pdp', rolesClaim: 'pdp_roles' },
    });
    t = await makeApp({ auth });
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
  const dir = mkdtempSync(path.join(tmpdir(), 'pdp-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  let pdp: PdpProcess;

  beforeAll(async () => {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    );
    const leaf = (name: string, cn: string, ext: string) => {
      openssl(
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        `/CN=${cn}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      );
      writeFileSync(file(`${name}.ext`), ext);
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      );
    };
    leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    leaf('client', 'gateway-1', 'extendedKeyUsage=clientAuth\n');
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
});
