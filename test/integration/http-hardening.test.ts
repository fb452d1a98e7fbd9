import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { ApiKeyEntry } from '../../src/config';
import type { Decision } from '../../src/decision/run';
import { PdpError } from '../../src/errors';
import { RedisStore } from '../../src/store/redis-store';
import { TestClock, decideBody, makeApp, seeded, silentLogger, type TestApp } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import { errorShapeProblem, parseResponses, rawExchange } from '../helpers/raw-http';
import { RedisProcess } from '../helpers/redis-server';
import { TestIssuer } from '../helpers/tokens';

/**
 * Regression tests for the request-channel defects of issue 8 (7a-c, 9a-g), each named after the
 * defect it pins. The hostile-input corpus over every endpoint is test/adversarial/request-channels.
 */

/** `{"a":{"a":…}}` with `depth` objects, as JSON text (a value this deep cannot be stringified). */
function nestedJson(depth: number, leaf = '1'): string {
  return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

/** A decide body whose context is `depth` objects deep, as JSON text. */
function deepDecide(depth: number): string {
  const body = JSON.stringify(decideBody({ context: '__CTX__' }));
  return body.replace('"__CTX__"', nestedJson(depth));
}

const CORP = { ip: '198.51.100.7', country: 'NL' };
const json = { 'content-type': 'application/json' };

describe('defect 7a: a context nested 10,000 deep is a 400 with a pointer, never a 500', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp({ clock: new TestClock().now });
  });

  it.each(['/v1/decide', '/v1/whatif'])('%s answers 400 nesting_too_deep naming the value', async (path) => {
    const res = await request(t.api).post(path).set(json).send(deepDecide(10_000));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('nesting_too_deep');
    // The body is level 1, the context 2: the 65th level is the first one refused.
    expect(res.body.error.details).toEqual([
      {
        pointer: `/context${'/a'.repeat(63)}`,
        message: 'must not nest deeper than 64 levels',
        keyword: 'maxDepth',
      },
    ]);
  });

  it('fails a batch whose body is too deep as a whole: the body is the problem', async () => {
    const item = deepDecide(10_000);
    const res = await request(t.api)
      .post('/v1/decide/batch')
      .set(json)
      .send(`{"requests":[${JSON.stringify(decideBody())},${item}]}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('nesting_too_deep');
    expect(res.body.error.details[0].pointer).toMatch(/^\/requests\/1\/context\/a\//);
  });

  it('answers a batch item whose context is too deep (but the body is not) in its slot', async () => {
    const res = await request(t.api)
      .post('/v1/decide/batch')
      .set(json)
      .send(`{"requests":[${JSON.stringify(decideBody({ client: CORP }))},${deepDecide(40)}]}`);
    expect(res.status).toBe(200);
    expect(res.body.results[0].decision).toBe('allow');
    expect(res.body.results[1]).toEqual({
      error: {
        code: 'invalid_request',
        message: 'The request body is invalid',
        details: [
          {
            pointer: `/requests/1/context${'/a'.repeat(32)}`,
            message: 'must not nest deeper than 32 levels',
            keyword: 'maxDepth',
          },
        ],
      },
    });
  });

  it('answers AuthZEN evaluation 400, and an evaluations item in its slot', async () => {
    const single = `{"subject":{"type":"agent","id":"agt-7f3a"},"resource":{"type":"api","id":"api://payments"},"action":{"name":"payments.read"},"context":{"x":${nestedJson(10_000)}}}`;
    const res = await request(t.api).post('/access/v1/evaluation').set(json).send(single);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('nesting_too_deep');

    const batch = `{"subject":{"type":"agent","id":"agt-7f3a"},"resource":{"type":"api","id":"api://payments"},"evaluations":[{"action":{"name":"payments.read"}},{"action":{"name":"payments.read"},"context":{"x":${nestedJson(40)}}}]}`;
    const items = await request(t.api).post('/access/v1/evaluations').set(json).send(batch);
    expect(items.status).toBe(200);
    expect(items.body.evaluations[0].decision).toBe(true);
    expect(items.body.evaluations[1]).toMatchObject({
      decision: false,
      context: { error: { status: 400, code: 'invalid_request' } },
    });
    expect(items.body.evaluations[1].context.error.details[0].pointer).toBe(
      `/evaluations/1/context/x${'/a'.repeat(31)}`,
    );
  });

  it('refuses a member name given twice: JSON.parse would keep the last one silently', async () => {
    const body = JSON.stringify(decideBody({ client: CORP })).replace(
      '"agent_id":"agt-7f3a"',
      '"agent_id":"agt-disabled","agent_id":"agt-7f3a"',
    );
    const res = await request(t.api).post('/v1/decide').set(json).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      code: 'invalid_request',
      message: 'The request body is invalid',
      details: [{ pointer: '/agent_id', message: 'is a duplicate member name', keyword: 'duplicateKey' }],
    });
  });

  it('refuses an unpaired surrogate escape in any string (the policy engine failed on it: 500)', async () => {
    const body = JSON.stringify(decideBody({ context: { note: 'x' } })).replace('"x"', '"\\ud800"');
    const res = await request(t.api).post('/v1/decide').set(json).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([
      expect.objectContaining({ pointer: '/context/note', keyword: 'unpairedSurrogate' }),
    ]);
  });

  it('refuses a __proto__ member anywhere in a body, and Object.prototype stays clean', async () => {
    const body = JSON.stringify(decideBody({ context: { safe: { k: 1 } } })).replace(
      '"k":1',
      '"__proto__":{"polluted":"yes"}',
    );
    const res = await request(t.api).post('/v1/decide').set(json).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([
      { pointer: '/context/safe/__proto__', message: 'is a reserved member name', keyword: 'reservedKey' },
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('defect 7b: a leap second is read, never NaN', () => {
  let t: TestApp;
  beforeEach(async () => {
    // 2026-11-27: before the leap second.
    t = await makeApp({ clock: new TestClock().now });
  });

  it('what-if at 23:59:60Z answers 200 (it was a 500)', async () => {
    const res = await request(t.api)
      .post('/v1/whatif')
      .send(decideBody({ client: CORP, overrides: { now: '2026-12-31T23:59:60Z' } }));
    expect(res.status).toBe(200);
    expect(res.body.evaluated_at).toBe('2026-12-31T23:59:59.999Z');
  });

  it('an agent expiring at a leap second is not expired before it (it was expired at once)', async () => {
    const agent = {
      blueprint_id: 'bp-invoice',
      enabled: true,
      sponsors: ['u-1'],
      expires_at: '2026-12-31T23:59:60Z',
    };
    await request(t.api).put('/v1/tenants/default/agents/agt-leap').send(agent).expect(200);
    const now = await request(t.api)
      .post('/v1/decide')
      .send(decideBody({ agent_id: 'agt-leap', client: CORP }))
      .expect(200);
    expect(now.body.decision).toBe('allow');
    const after = await request(t.api)
      .post('/v1/whatif')
      .send(decideBody({ agent_id: 'agt-leap', client: CORP, overrides: { now: '2027-01-01T00:00:00Z' } }))
      .expect(200);
    expect(after.body.reasons.map((r: { code: string }) => r.code)).toContain('agent_expired');
  });

  it.each([
    ['/v1/whatif', '/overrides/now', decideBody({ overrides: { now: '2026-12-31T12:00:60Z' } })],
    [
      '/v1/tenants/default/agents/agt-x',
      '/expires_at',
      { blueprint_id: 'bp-invoice', enabled: true, sponsors: ['u-1'], expires_at: '2026-06-30T12:59:60Z' },
    ],
  ])('%s refuses a :60 that is not 23:59:60 UTC with a 400 at %s', async (path, pointer, body) => {
    const res = await (path === '/v1/whatif' ? request(t.api).post(path) : request(t.api).put(path)).send(
      body,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ pointer, keyword: 'format' }));
  });
});

describe('defect 7c: a deep directory body is never a store outage (real Redis)', () => {
  let redis: RedisProcess;
  let store: RedisStore;
  let t: TestApp;
  const storeErrors: string[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
    store = await RedisStore.connect(redis.url, {
      cacheTtlMs: 2000,
      staleIfErrorMs: 300_000,
      maxEntries: 1000,
      clock: Date.now,
      logger: silentLogger,
      onError: (operation) => storeErrors.push(operation),
    });
    t = await makeApp({ store: await seeded(store) });
  });
  afterAll(async () => {
    await store.close();
    await redis.stop();
  });

  it('answers 400 nesting_too_deep (it was a 503 store_unavailable) and counts no store error', async () => {
    const body = `{"blueprint_id":"bp-invoice","enabled":true,"sponsors":["u-1"],"attributes":{"x":${nestedJson(10_000)}}}`;
    const res = await request(t.api).put('/v1/tenants/default/agents/agt-deep').set(json).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('nesting_too_deep');
    expect(res.body.error.details[0].pointer).toMatch(/^\/attributes\/x\/a\//);
    expect(storeErrors).toEqual([]);
    await request(t.api).get('/v1/tenants/default/agents/agt-deep').expect(404);
  });

  it('tells a value it cannot serialise from a Redis failure', async () => {
    const deep: unknown = JSON.parse(nestedJson(20_000));
    let thrown: unknown;
    try {
      await store.put('agent', 'default', 'agt-deep', { attributes: deep } as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PdpError);
    expect((thrown as PdpError).code).toBe('invalid_request');
    expect(storeErrors).toEqual([]);
  });
});

describe('defect 9a: AuthZEN decision-log records carry the authenticated caller', () => {
  const key = 'key-gateway-0123456789';
  const apiKeys: ApiKeyEntry[] = [
    { name: 'gateway', roles: ['authorize'], sha256: createHash('sha256').update(key).digest('hex') },
  ];

  it('names the caller for evaluation and evaluations (it was null)', async () => {
    const events: Decision[] = [];
    const t = await makeApp({ apiKeys, log: (event) => events.push(event) });
    const single = {
      subject: { type: 'agent', id: 'agt-7f3a' },
      resource: { type: 'api', id: 'api://payments' },
      action: { name: 'payments.read' },
    };
    await request(t.api).post('/access/v1/evaluation').set('x-api-key', key).send(single).expect(200);
    await request(t.api)
      .post('/access/v1/evaluations')
      .set('x-api-key', key)
      .send({ ...single, evaluations: [{}, { action: { name: 'payments.write' } }] })
      .expect(200);
    expect(events.map((e) => [e.endpoint, e.caller])).toEqual([
      ['authzen', 'gateway'],
      ['authzen', 'gateway'],
      ['authzen', 'gateway'],
    ]);
  });
});

describe('defect 9c: OPTIONS is never an unauthenticated success', () => {
  const key = (name: string) => `key-${name}-0123456789`;
  const entry = (name: string, roles: ApiKeyEntry['roles']): ApiKeyEntry => ({
    name,
    roles,
    sha256: createHash('sha256').update(key(name)).digest('hex'),
  });
  let t: TestApp;
  let issuer: TestIssuer;
  beforeAll(async () => {
    const clock = new TestClock();
    issuer = await TestIssuer.create(clock.now);
    t = await makeApp({
      clock: clock.now,
      trustedIssuers: [issuer.trusted()],
      apiKeys: [entry('gateway', ['authorize']), entry('admin', ['admin'])],
    });
  });

  it.each([
    '/v1/decide',
    '/v1/decide/batch',
    '/v1/whatif',
    '/access/v1/evaluation',
    '/.well-known/authzen-configuration',
    '/v1/tenants/default/agents/agt-7f3a',
    '/v1/tenants/default/signals/agents/agt-7f3a/revocation',
    '/no/such/path',
  ])('API port %s: 405 with no route list (it was 200 with Allow)', async (path) => {
    for (const credential of [undefined, key('admin')]) {
      const req = request(t.api).options(path);
      if (credential !== undefined) req.set('x-api-key', credential);
      const res = await req;
      expect(res.status).toBe(405);
      expect(res.headers['allow']).toBeUndefined();
      expect(res.body).toEqual({
        error: { code: 'method_not_allowed', message: 'OPTIONS is not supported', details: [] },
      });
    }
  });

  it.each(['/healthz', '/readyz', '/metrics', '/v1/policies'])('admin port %s: 405', async (path) => {
    const res = await request(t.admin).options(path);
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBeUndefined();
    expect(res.body.error.code).toBe('method_not_allowed');
  });

  it('leaves OPTIONS on the gateway route to the gateway decision, behind the caller key', async () => {
    const path = '/v1/authorize/invoices/42';
    const token = await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] });
    await request(t.api).options(path).set('authorization', `Bearer ${token}`).expect(401);
    const res = await request(t.api)
      .options(path)
      .set('x-api-key', key('gateway'))
      .set('x-forwarded-for', CORP.ip)
      .set('authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.headers['x-agent-id']).toBe('agt-7f3a');
    // A route whose methods do not include OPTIONS denies it.
    const payments = await request(t.api)
      .options('/v1/authorize/payments/1')
      .set('x-api-key', key('gateway'))
      .set('authorization', `Bearer ${await issuer.token()}`);
    expect(payments.status).toBe(403);
  });
});

describe('defect 9f: directory strings are bounded', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });

  it.each([
    ['a sponsor of 257 characters', '/sponsors/0', { sponsors: ['u'.repeat(257)] }],
    ['a blueprint id no blueprint can have', '/blueprint_id', { blueprint_id: 'bp/../x' }],
    ['an attribute name of 257 characters', '/attributes', { attributes: { ['k'.repeat(257)]: 1 } }],
  ])('refuses an agent with %s (400 at %s)', async (_label, pointer, overrides) => {
    const body = { blueprint_id: 'bp-invoice', enabled: true, sponsors: ['u-1'], ...overrides };
    const res = await request(t.api).put('/v1/tenants/default/agents/agt-long').send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { pointer: string }) => d.pointer)).toContain(pointer);
  });

  it('refuses a detection string of 10,000 characters', async () => {
    const res = await request(t.api)
      .put('/v1/tenants/default/signals/agents/agt-7f3a/risk')
      .send({ level: 'high', detections: ['d'.repeat(10_000)] });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].pointer).toBe('/detections/0');
  });
});

describe('defect 9g: invalid UTF-8 is refused, not stored as U+FFFD', () => {
  let t: TestApp;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    t = await makeApp();
    server = createServer(t.api).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  const send = (method: string, path: string, body: Buffer, contentType = 'application/json') =>
    fetch(base + path, { method, headers: { 'content-type': contentType }, body });

  it('answers 400 invalid_utf8 and stores nothing', async () => {
    const body = Buffer.concat([
      Buffer.from('{"blueprint_id":"bp-invoice","enabled":true,"sponsors":["u-1"],"display_name":"'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}'),
    ]);
    const res = await send('PUT', '/v1/tenants/default/agents/agt-utf8', body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_utf8');
    await request(t.api).get('/v1/tenants/default/agents/agt-utf8').expect(404);
  });

  it('answers a body in another charset 415, and accepts utf-8 in either case', async () => {
    const text = JSON.stringify(decideBody());
    const utf16 = await send(
      'POST',
      '/v1/decide',
      Buffer.from(text, 'utf16le'),
      'application/json; charset=utf-16le',
    );
    expect(utf16.status).toBe(415);
    expect(((await utf16.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    for (const charset of ['utf-8', 'UTF-8']) {
      const res = await send('POST', '/v1/decide', Buffer.from(text), `application/json; charset=${charset}`);
      expect(res.status).toBe(200);
    }
  });
});

describe("defects 9b, 9e: Node's own answers over raw sockets, on the real process's two ports", () => {
  let pdp: PdpProcess;
  beforeAll(async () => {
    pdp = await PdpProcess.start({ PDP_BODY_LIMIT_BYTES: '65536' });
  });
  afterAll(async () => {
    expect(await pdp.stop()).toBe(0);
  });

  const ports = (): [string, number][] => [
    ['api', pdp.port],
    ['admin', pdp.adminPort],
  ];

  it.each([
    ['a malformed request line', 'GET /x HTTP/1.1 extra\r\nHost: x\r\n\r\n', 400, 'malformed_request'],
    ['an HTTP/1.1 request without Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400, 'malformed_request'],
    ['a bad method token', 'G(T / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'malformed_request'],
    ['a header without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n', 400, 'malformed_request'],
    [
      'bad chunked encoding',
      'POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      400,
      'malformed_request',
    ],
    [
      'two Content-Length headers',
      'POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      400,
      'malformed_request',
    ],
    [
      'headers over the limit',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    [
      'a CONNECT',
      'CONNECT pdp.example:443 HTTP/1.1\r\nHost: pdp.example:443\r\n\r\n',
      405,
      'method_not_allowed',
    ],
  ])('answers %s with the JSON error shape (it was an empty body)', async (name, raw, status, code) => {
    // The admin port reads no body: it has answered before a bad chunk arrives.
    for (const [, port] of ports().filter(([p]) => p === 'api' || name !== 'bad chunked encoding')) {
      const responses = parseResponses(await rawExchange(port, [raw]));
      expect(responses.map((r) => r.status)).toEqual([status]);
      const [res] = responses;
      expect(errorShapeProblem(res!)).toBeNull();
      expect(JSON.parse(res!.body).error.code).toBe(code);
    }
  });

  it('answers Expect: 100-continue over the limit with 413 before any 100 Continue', async () => {
    for (const [, port] of ports()) {
      const head =
        'POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n';
      const raw = await rawExchange(port, [head]);
      expect(raw).not.toMatch(/100 Continue/);
      const responses = parseResponses(raw);
      expect(responses.map((r) => r.status)).toEqual([413]);
      expect(JSON.parse(responses[0]!.body).error.code).toBe('payload_too_large');
    }
  });

  it('still says 100 Continue to a body within the limit, and decides it', async () => {
    const body = JSON.stringify(decideBody());
    const head =
      'POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`;
    const responses = parseResponses(await rawExchange(pdp.port, [head, body], { gapMs: 200 }));
    expect(responses.map((r) => r.status)).toEqual([100, 200]);
    expect(JSON.parse(responses[1]!.body).decision).toBe('allow');
  });

  it('answers an Expect it does not know with 417 and the JSON error shape', async () => {
    for (const [, port] of ports()) {
      const responses = parseResponses(
        await rawExchange(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n']),
      );
      expect(responses.map((r) => r.status)).toEqual([417]);
      expect(JSON.parse(responses[0]!.body).error.code).toBe('expectation_failed');
    }
  });
});
