import { once } from 'node:events';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import request from 'supertest';
import { API_SERVER_OPTIONS } from '../../src/http/server-options';
import {
  EXAMPLE_DATA,
  TestClock,
  makeApp,
  makeEngine,
  redisStore,
  seeded,
  type TestApp,
} from '../helpers/app';
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

  it('challenges an on-behalf-of token without MFA with insufficient_user_authentication (RFC 9470)', async () => {
    const res = await ask(
      t,
      dialect,
      'GET',
      '/payments/42',
      await issuer.oboToken('u-42', { amr: ['pwd'] }),
    ).expect(403);
    expect(res.body.reasons.map((r: { code: string }) => r.code)).toContain('ca_grant_unsatisfied');
    expect(res.headers['www-authenticate']).toMatch(
      /^Bearer error="insufficient_user_authentication", error_description="[^"]+"$/,
    );
  });

  it('challenges a missing route scope with insufficient_scope and the scopes (RFC 6750)', async () => {
    const res = await ask(t, dialect, 'POST', '/payments/42', await issuer.token()).expect(403);
    expect(res.headers['www-authenticate']).toMatch(
      /^Bearer error="insufficient_scope", scope="payments\.write", error_description="[^"]+"$/,
    );
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

/**
 * The original request asked over a real socket, its target sent byte for byte (node:http sends
 * `path` as given; supertest would resolve `%2e%2e` and `\` through the WHATWG parser first).
 */
function rawAsk(
  base: AddressInfo,
  dialect: Dialect,
  target: string,
  token?: string,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'x-forwarded-for': '198.51.100.7' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  let pathname = '/v1/authorize';
  if (dialect === 'envoy') pathname += target;
  else if (dialect === 'nginx')
    Object.assign(headers, { 'x-original-method': 'GET', 'x-original-uri': target });
  else Object.assign(headers, { 'x-forwarded-method': 'GET', 'x-forwarded-uri': target });
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: base.port, path: pathname, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, body: text === '' ? null : JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function listen(t: TestApp): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer(API_SERVER_OPTIONS, t.api);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: server.address() as AddressInfo };
}

function close(server: Server): void {
  server.closeAllConnections();
  server.close();
}

describe.each<Dialect>(['envoy', 'nginx', 'traefik'])(
  '/v1/authorize matches routes on the path the upstream gets, never a resolved one (%s dialect)',
  (dialect) => {
    let issuer: TestIssuer;
    let docsOnly: string;
    let example: { server: Server; address: AddressInfo };

    beforeAll(async () => {
      issuer = await TestIssuer.create();
      // A research agent whose token holds docs.read and nothing else.
      docsOnly = await issuer.token({
        azp: 'agt-research-1',
        xms_par_app_azp: 'bp-research',
        aud: 'api://docs',
        roles: ['docs.read'],
      });
      example = await listen(await makeApp({ trustedIssuers: [issuer.trusted()] }));
    });
    afterAll(() => {
      close(example.server);
    });

    it('allows the canonical controls, matched on the decoded path', async () => {
      for (const target of ['/docs/x', '/docs/x?next=/admin', '/docs/', '/docs/a%20b', '/docs/caf%C3%A9']) {
        const res = await rawAsk(example.address, dialect, target, docsOnly);
        expect([target, res.status]).toEqual([target, 200]);
      }
    });

    // Regression (issue 8): each of these was resolved to a docs path and allowed for docs.read.
    it.each([
      ['//admin/docs/x', 'empty_segment'],
      ['//payments/docs/x', 'empty_segment'],
      ['/payments/%2e%2e/docs/x', 'dot_segment'],
      ['/payments/%2E%2E/docs/x', 'dot_segment'],
      ['/payments/../docs/x', 'dot_segment'],
      ['/\\admin/docs/x', 'backslash'],
      ['/admin%5c..%5cdocs/x', 'backslash'],
      ['/admin/%2e%2e%2fdocs/x', 'encoded_dot'],
      ['/admin%2f..%2fdocs/x', 'encoded_slash'],
      ['/admin/..;/docs/x', 'path_parameter'],
      ['/docs/x%00', 'control_character'],
      ['/admin/%252e%252e/docs/x', 'encoded_percent'],
      ['/%64ocs/x', 'encoded_unreserved'],
      ['/admin/%c0%ae%c0%ae/docs/x', 'invalid_utf8'],
      ['/docs/%zz', 'invalid_percent_encoding'],
    ])('denies %s for a docs.read token: 403 path_not_canonical (%s)', async (target, problem) => {
      const res = await rawAsk(example.address, dialect, target, docsOnly);
      expect(res.status).toBe(403);
      expect(res.body.decision).toBe('deny');
      expect(res.body.route).toBeNull();
      expect(res.body.reasons).toEqual([
        {
          code: 'path_not_canonical',
          message: expect.stringContaining(`is not canonical (${problem})`),
          policy_id: null,
        },
      ]);
    });

    it('denies a non-canonical path without a token with 403, not a token challenge', async () => {
      const res = await rawAsk(example.address, dialect, '//healthz');
      expect(res.status).toBe(403);
      expect(res.body.reasons[0].code).toBe('path_not_canonical');
    });

    describe('with a route that sets allow_non_canonical_path', () => {
      let optIn: { server: Server; address: AddressInfo };
      beforeAll(async () => {
        const data = await mkdtemp(path.join(tmpdir(), 'pdp-routes-'));
        await cp(EXAMPLE_DATA, data, { recursive: true });
        const file = path.join(data, 'default/gateway-routes.json');
        const routes = JSON.parse(await readFile(file, 'utf8'));
        routes.routes.push({
          id: 'legacy-docs',
          methods: ['GET'],
          path: '/legacy/**',
          resource: 'api://docs',
          scopes: ['docs.read'],
          allow_non_canonical_path: true,
        });
        await writeFile(file, JSON.stringify(routes));
        optIn = await listen(
          await makeApp({ engine: await makeEngine({ dataDir: data }), trustedIssuers: [issuer.trusted()] }),
        );
      });
      afterAll(() => {
        close(optIn.server);
      });

      it('matches that route on the raw path, and only that route', async () => {
        expect((await rawAsk(optIn.address, dialect, '/legacy/a;v=1/b', docsOnly)).status).toBe(200);
        expect((await rawAsk(optIn.address, dialect, '/legacy/a//b', docsOnly)).status).toBe(200);
        // The raw form must match: //legacy/x is not under /legacy/.
        expect((await rawAsk(optIn.address, dialect, '//legacy/x', docsOnly)).status).toBe(403);
        const other = await rawAsk(optIn.address, dialect, '/docs/a;v=1/b', docsOnly);
        expect(other.status).toBe(403);
        expect(other.body.reasons[0].message).toBe(
          "The path /docs/a;v=1/b is not canonical (path_parameter) and route 'docs' does not set allow_non_canonical_path.",
        );
      });
    });
  },
);

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
