import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import request from 'supertest';
import { API_SERVER_OPTIONS } from '../../src/http/server-options';
import { TestClock, makeApp, makeEngine, redisStore, seeded, type TestApp } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';
import { TestIssuer, b64url } from '../helpers/tokens';

type Dialect = 'envoy' | 'nginx' | 'traefik';

/** The same question asked the way each gateway asks it. */
function ask(
  app: TestApp,
  dialect: Dialect,
  method: string,
  uri: string,
  token?: string,
  clientIp = '198.51.100.7',
) {
  let req: request.Test;
  if (dialect === 'envoy') {
    req = (request(app.api) as unknown as Record<string, (p: string) => request.Test>)[method.toLowerCase()]!(
      `/v1/authorize${uri}`,
    );
    req.set('x-forwarded-for', clientIp);
  } else if (dialect === 'nginx') {
    req = request(app.api)
      .get('/v1/authorize')
      .set('x-original-method', method)
      .set('x-original-uri', uri)
      .set('x-forwarded-for', clientIp);
  } else {
    req = request(app.api)
      .get('/v1/authorize')
      .set('x-forwarded-method', method)
      .set('x-forwarded-uri', uri)
      .set('x-forwarded-host', 'api.example.com')
      .set('x-forwarded-for', `${clientIp}, 10.0.0.2`);
  }
  if (token !== undefined) req.set('authorization', `Bearer ${token}`);
  return req;
}

describe.each<Dialect>(['envoy', 'nginx', 'traefik'])('/v1/authorize, %s dialect', (dialect) => {
  const clock = new TestClock();
  let issuer: TestIssuer;
  let t: TestApp;
  const hops = dialect === 'traefik' ? 2 : 1;

  beforeAll(async () => {
    issuer = await TestIssuer.create(clock.now);
  });
  beforeEach(async () => {
    t = await makeApp({ clock: clock.now, trustedIssuers: [issuer.trusted()], trustedProxyHops: hops });
  });

  it('allows an agent whose token carries the route scope, with the PDP headers', async () => {
    const res = await ask(t, dialect, 'GET', '/payments/42?expand=1', await issuer.token()).expect(200);
    expect(res.headers['x-agent-id']).toBe('agt-7f3a');
    expect(res.headers['x-agent-blueprint']).toBe('bp-invoice');
    expect(res.headers['x-pdp-decision-id']).toMatch(/^[0-9A-Z]{26}$/);
    expect(res.headers['x-user-id']).toBeUndefined();
  });

  it('passes the user id on behalf of a user', async () => {
    const res = await ask(t, dialect, 'GET', '/payments/42', await issuer.oboToken('u-42')).expect(200);
    expect(res.headers['x-user-id']).toBe('u-42');
  });

  it('denies (403) a write without the write scope, a disabled agent and an unknown route', async () => {
    const write = await ask(t, dialect, 'POST', '/payments/42', await issuer.token()).expect(403);
    expect(write.body.reasons.map((r: { code: string }) => r.code)).toContain('insufficient_scope');
    const disabled = await ask(
      t,
      dialect,
      'GET',
      '/payments/1',
      await issuer.token({ azp: 'agt-disabled' }),
    ).expect(403);
    expect(disabled.body.reasons.map((r: { code: string }) => r.code)).toContain('agent_disabled');
    const unknown = await ask(t, dialect, 'GET', '/admin', await issuer.token()).expect(403);
    expect(unknown.body.reasons.map((r: { code: string }) => r.code)).toEqual(['route_not_found']);
    const aud = await ask(t, dialect, 'GET', '/docs/x', await issuer.token()).expect(403);
    expect(aud.body.reasons.map((r: { code: string }) => r.code)).toContain('audience_mismatch');
  });

  it('lets a public route through without a token and asks for one elsewhere (401)', async () => {
    await ask(t, dialect, 'GET', '/healthz').expect(200);
    const res = await ask(t, dialect, 'GET', '/payments/1').expect(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
  });

  it('answers 401 invalid_token for a bad token', async () => {
    const res = await ask(t, dialect, 'GET', '/payments/1', 'not.a.token').expect(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token", error_description=/);
    expect(res.body.reasons[0].code).toBe('invalid_token');
  });

  it('turns tokens issued before a revocation into 401 claims challenges and keeps later ones working', async () => {
    const before = await issuer.token({}, { iatOffset: -60 });
    await request(t.api)
      .post('/v1/tenants/default/signals/agents/agt-7f3a/revocation')
      .send({ reason: 'key leak' })
      .expect(201);
    const res = await ask(t, dialect, 'GET', '/payments/1', before).expect(401);
    const header = res.headers['www-authenticate'] as string;
    expect(header).toMatch(
      /^Bearer error="insufficient_claims", error_description="[^"]+", claims="([A-Za-z0-9+/=]+)"$/,
    );
    const claims = JSON.parse(Buffer.from(/claims="([^"]+)"/.exec(header)![1]!, 'base64').toString());
    expect(claims).toEqual({ access_token: { nbf: { essential: true, value: String(clock.ms / 1000) } } });
    expect(res.body.reasons.map((r: { code: string }) => r.code)).toEqual(['token_revoked']);
    await ask(t, dialect, 'GET', '/payments/1', await issuer.token({ jti: 'fresh' })).expect(200);
  });
});

describe('/v1/authorize: hostile tokens over a real socket', () => {
  let server: Server;
  let base: string;
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.create();
    const t = await makeApp({ trustedIssuers: [issuer.trusted()] });
    server = createServer(API_SERVER_OPTIONS, t.api);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/authorize/payments/1`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const cases: [string, () => Promise<string> | string][] = [
    [
      'alg none',
      () =>
        `${b64url({ alg: 'none' })}.${b64url({ iss: 'https://login.agents.example/default/v2.0', aud: 'api://payments', azp: 'agt-7f3a', iat: 1, exp: 4e9 })}.`,
    ],
    ['unknown kid', () => issuer.token({}, { header: { kid: 'nope' } })],
    [
      'path and SQL junk in kid',
      () => issuer.token({}, { header: { kid: "../../etc/passwd'; DROP TABLE x;--" } }),
    ],
    ['expired', () => issuer.token({}, { iatOffset: -7200, ttl: 60 })],
    ['wrong audience', () => issuer.token({ aud: 'api://elsewhere' })],
    ['malformed', () => 'eyJ.eyJ.'],
    ['a 64 KiB token', () => issuer.token({ pad: 'x'.repeat(64 * 1024) })],
  ];
  it.each(cases)('%s → 401, never 5xx', async (_name, make) => {
    const res = await fetch(base, {
      headers: { authorization: `Bearer ${await make()}`, 'x-forwarded-for': '198.51.100.7' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });
});

describe('/v1/authorize over a real Redis', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await RedisProcess.start();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it("a risk raised through replica A's API turns replica B's next gateway decision into 403 within 100 ms", async () => {
    const issuer = await TestIssuer.create();
    const replica = async () =>
      makeApp({
        store: await redisStore(redis.url, { cacheTtlMs: 60_000 }),
        engine: await makeEngine(),
        trustedIssuers: [issuer.trusted()],
      });
    const a = await replica();
    const b = await replica();
    try {
      await seeded(a.store);
      const token = await issuer.token();
      await ask(b, 'envoy', 'GET', '/payments/1', token).expect(200);
      await request(a.api)
        .put('/v1/tenants/default/signals/agents/agt-7f3a/risk')
        .send({ level: 'high' })
        .expect(200);
      const written = performance.now();
      let status = 200;
      while (status === 200 && performance.now() - written < 1000)
        status = (await ask(b, 'envoy', 'GET', '/payments/1', token)).status;
      expect(status).toBe(403);
      expect(performance.now() - written).toBeLessThan(100);
    } finally {
      await a.store.close();
      await b.store.close();
      const admin = new Redis(redis.url);
      await admin.flushall();
      admin.disconnect();
    }
  });
});
