import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NginxGateway } from '../helpers/nginx';
import { PdpProcess } from '../helpers/pdp-process';
import { freePort } from '../helpers/redis-server';
import { TestIssuer } from '../helpers/tokens';

describe('a real NGINX with auth_request in front of an upstream, agent-pdp behind it', () => {
  let pdp: PdpProcess;
  let nginx: NginxGateway;
  let upstream: Server;
  let issuer: TestIssuer;
  let base: string;
  const seen: Record<string, string | undefined>[] = [];

  beforeAll(async () => {
    issuer = await TestIssuer.create();
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-nginx-jwks-'));
    writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(issuer.jwks));
    const { jwks: _inline, ...trusted } = issuer.trusted();
    pdp = await PdpProcess.start({
      PDP_TRUSTED_ISSUERS: JSON.stringify([{ ...trusted, jwks_file: path.join(dir, 'jwks.json') }]),
    });

    const upstreamPort = await freePort();
    upstream = createServer((req, res) => {
      seen.push({
        path: req.url,
        agent: req.headers['x-agent-id'] as string,
        decision: req.headers['x-pdp-decision-id'] as string,
        blueprint: req.headers['x-agent-blueprint'] as string,
      });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ upstream: true }));
    });
    upstream.listen(upstreamPort, '127.0.0.1');
    await once(upstream, 'listening');

    // The shipped example, pointed at this test's ports: the example is what runs.
    nginx = await NginxGateway.start({ pdpPort: pdp.port, upstreamPort });
    base = nginx.base;
  }, 30_000);

  afterAll(async () => {
    await nginx.stop();
    upstream.close();
    await pdp.stop();
  });

  const get = async (pathname: string, token?: string) =>
    fetch(`${base}${pathname}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  it('lets an allowed agent reach the upstream with the PDP headers', async () => {
    const res = await get('/payments/42', await issuer.token());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ upstream: true });
    expect(seen.at(-1)).toMatchObject({
      path: '/payments/42',
      agent: 'agt-7f3a',
      blueprint: 'bp-invoice',
      decision: expect.stringMatching(/^[0-9A-Z]{26}$/),
    });
  });

  it('stops a denied agent with 403 before the upstream', async () => {
    const before = seen.length;
    expect((await get('/payments/42', await issuer.token({ azp: 'agt-disabled' }))).status).toBe(403);
    expect((await get('/admin', await issuer.token())).status).toBe(403);
    expect(seen.length).toBe(before);
  });

  it('answers a bad token with 401 and the PDP challenge', async () => {
    const res = await get('/payments/42', 'garbage.token.value');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('answers a token issued before a revocation with 401 and the claims challenge', async () => {
    const old = await issuer.token({ jti: 'old' }, { iatOffset: -120 });
    expect((await get('/payments/1', old)).status).toBe(200);
    expect(
      (await pdp.post('/v1/tenants/default/signals/agents/agt-7f3a/revocation', { reason: 'test' })).status,
    ).toBe(201);
    const res = await get('/payments/1', old);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(
      /^Bearer error="insufficient_claims", .*claims="[A-Za-z0-9+/=]+"$/,
    );
    // A token issued after the revocation works.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get('/payments/1', await issuer.token({ jti: 'new' }))).status).toBe(200);
  });
});
