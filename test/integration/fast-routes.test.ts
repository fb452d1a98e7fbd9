import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createCallerAuth } from '../../src/auth/caller-auth';
import type { ApiKeyEntry } from '../../src/config';
import { createValidators } from '../../src/decision/validators';
import { fastRoutes } from '../../src/http/fast-routes';
import { guardServer } from '../../src/http/server-guards';
import { API_SERVER_OPTIONS } from '../../src/http/server-options';
import { authzenEvaluator } from '../../src/routes/authzen';
import { ROOT, TestClock, decideBody, makeApp, silentLogger, type TestApp } from '../helpers/app';
import { parseResponses, rawExchange, type WireResponse } from '../helpers/raw-http';
import { TestIssuer } from '../helpers/tokens';

/**
 * The hot routes (src/http/fast-routes.ts) against the express app they stand in front of: the
 * same corpus of raw requests (decide, AuthZEN evaluation, gateway checks; valid, invalid and
 * hostile) goes to a server on each, and every response must match on the wire: status, every
 * header in order, and body, except the Date header and decision ids, which must still be ULIDs.
 * Each request is also checked to have been served by the path it was meant for.
 */

const KEY = 'key-hot-0123456789abcdef';
const AUTHOR_KEY = 'key-author-0123456789ab';
const apiKeys: ApiKeyEntry[] = [
  { name: 'pep', roles: ['decide', 'authorize'], sha256: createHash('sha256').update(KEY).digest('hex') },
  { name: 'author', roles: ['author'], sha256: createHash('sha256').update(AUTHOR_KEY).digest('hex') },
];
const ULID = /\b[0-9A-HJKMNP-TV-Z]{26}\b/g;

interface Case {
  name: string;
  raw: string | Buffer;
  /** Served by the hot routes (true) or handed to express (false). */
  hot: boolean;
}

function post(
  target: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
  opts: { host?: boolean } = {},
): Buffer {
  const all: Record<string, string> = {
    ...(opts.host !== false && { host: 'pdp.test' }),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'x-api-key': KEY,
    ...headers,
    connection: 'close',
  };
  const head = `POST ${target} HTTP/1.1\r\n${Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

function get(target: string, headers: Record<string, string>, method = 'GET'): string {
  const all = { host: 'pdp.test', 'x-api-key': KEY, ...headers, connection: 'close' };
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** Every decide request of the Graph parity tables, as sent (their directories are not seeded). */
function parityRequests(): unknown[] {
  const dir = path.join(ROOT, 'test/fixtures/graph-parity');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      const table = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { cases: { request: unknown }[] };
      return table.cases.map((c) => c.request);
    });
}

function decideCases(): Case[] {
  const body = JSON.stringify(decideBody());
  const cases: Case[] = [
    { name: 'decide: the README example', raw: post('/v1/decide', body), hot: true },
    {
      name: 'decide: on behalf of a user',
      raw: post(
        '/v1/decide',
        JSON.stringify(
          decideBody({
            flow: 'on_behalf_of',
            user: { id: 'u-42', amr: ['pwd', 'mfa'] },
            scopes: ['payments.read'],
          }),
        ),
      ),
      hot: true,
    },
    {
      name: 'decide: unknown agent',
      raw: post('/v1/decide', JSON.stringify(decideBody({ agent_id: 'agt-none' }))),
      hot: true,
    },
    {
      name: 'decide: unknown tenant',
      raw: post('/v1/decide', JSON.stringify(decideBody({ tenant: 'nope' }))),
      hot: true,
    },
    { name: 'decide: schema violation', raw: post('/v1/decide', JSON.stringify({ flow: 'x' })), hot: true },
    {
      name: 'decide: extra member',
      raw: post('/v1/decide', JSON.stringify(decideBody({ extra: 1 }))),
      hot: true,
    },
    { name: 'decide: not an object', raw: post('/v1/decide', '[1,2]'), hot: true },
    { name: 'decide: a bare string', raw: post('/v1/decide', '"x"'), hot: true },
    { name: 'decide: invalid JSON', raw: post('/v1/decide', '{"a":'), hot: true },
    {
      name: 'decide: duplicate member',
      raw: post('/v1/decide', body.replace('{', '{"flow":"autonomous",')),
      hot: true,
    },
    {
      name: 'decide: __proto__ member',
      raw: post('/v1/decide', body.replace('{', '{"__proto__":{},')),
      hot: true,
    },
    {
      name: 'decide: unpaired surrogate',
      raw: post('/v1/decide', body.replace('agt-7f3a', 'agt-\\ud800')),
      hot: true,
    },
    { name: 'decide: nested too deep', raw: post('/v1/decide', '['.repeat(70) + ']'.repeat(70)), hot: true },
    {
      name: 'decide: context too deep',
      raw: post(
        '/v1/decide',
        JSON.stringify(decideBody({ context: JSON.parse('{"a":'.repeat(20) + '1' + '}'.repeat(20)) })),
      ),
      hot: true,
    },
    {
      name: 'decide: context too large',
      raw: post('/v1/decide', JSON.stringify(decideBody({ context: { blob: 'x'.repeat(5000) } }))),
      hot: true,
    },
    { name: 'decide: invalid UTF-8', raw: post('/v1/decide', Buffer.from([0x7b, 0xff, 0x7d])), hot: true },
    {
      name: 'decide: leading BOM',
      raw: post('/v1/decide', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)])),
      hot: true,
    },
    {
      name: 'decide: charset utf-8',
      raw: post('/v1/decide', body, { 'content-type': 'application/json; charset=UTF-8' }),
      hot: true,
    },
    { name: 'decide: no caller credential', raw: post('/v1/decide', body, { 'x-api-key': '' }), hot: true },
    { name: 'decide: a wrong key', raw: post('/v1/decide', body, { 'x-api-key': 'nope' }), hot: true },
    {
      name: 'decide: a key without the role',
      raw: post('/v1/decide', body, { 'x-api-key': AUTHOR_KEY }),
      hot: true,
    },
    {
      name: 'decide: the key as a Bearer',
      raw: post('/v1/decide', body, { 'x-api-key': '', authorization: `Bearer ${KEY}` }),
      hot: true,
    },
    {
      name: 'decide: a malformed Authorization',
      raw: post('/v1/decide', body, { authorization: 'Basic abc' }),
      hot: true,
    },
    {
      name: 'decide: invalid JSON without a credential',
      raw: post('/v1/decide', '{', { 'x-api-key': '' }),
      hot: true,
    },
    // Handed to express: every form the hot routes do not read themselves.
    {
      name: 'decide: charset latin1',
      raw: post('/v1/decide', body, { 'content-type': 'application/json; charset=latin1' }),
      hot: false,
    },
    {
      name: 'decide: text/plain',
      raw: post('/v1/decide', body, { 'content-type': 'text/plain' }),
      hot: false,
    },
    {
      name: 'decide: +json type',
      raw: post('/v1/decide', body, { 'content-type': 'application/merge-patch+json' }),
      hot: false,
    },
    { name: 'decide: no content type', raw: post('/v1/decide', body, { 'content-type': '' }), hot: false },
    {
      name: 'decide: gzip encoded',
      raw: post('/v1/decide', body, { 'content-encoding': 'gzip' }),
      hot: false,
    },
    { name: 'decide: empty body', raw: post('/v1/decide', ''), hot: false },
    {
      name: 'decide: over the body limit',
      raw: post('/v1/decide', JSON.stringify(decideBody({ context: { x: 'y'.repeat(70_000) } }))),
      hot: false,
    },
    { name: 'decide: a query string', raw: post('/v1/decide?x=1', body), hot: false },
    { name: 'decide: a trailing slash', raw: post('/v1/decide/', body), hot: false },
    { name: 'decide: upper case', raw: post('/V1/DECIDE', body), hot: false },
    { name: 'decide: no Host', raw: post('/v1/decide', body, {}, { host: false }), hot: false },
    { name: 'decide: GET', raw: get('/v1/decide', {}), hot: false },
    { name: 'decide: OPTIONS', raw: get('/v1/decide', {}, 'OPTIONS'), hot: false },
    {
      name: 'decide: chunked',
      raw: `POST /v1/decide HTTP/1.1\r\nhost: pdp.test\r\ncontent-type: application/json\r\nx-api-key: ${KEY}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      hot: false,
    },
    {
      name: 'what-if (express only)',
      raw: post('/v1/whatif', body, { 'x-api-key': AUTHOR_KEY }),
      hot: false,
    },
    {
      name: 'batch (express only)',
      raw: post('/v1/decide/batch', JSON.stringify({ requests: [decideBody(), {}] })),
      hot: false,
    },
  ];
  parityRequests().forEach((request, i) => {
    cases.push({
      name: `decide: graph parity request ${i}`,
      raw: post('/v1/decide', JSON.stringify(request)),
      hot: true,
    });
  });
  return cases;
}

function authzenCases(): Case[] {
  const single = {
    subject: { type: 'agent', id: 'agt-7f3a' },
    resource: { type: 'api', id: 'api://payments' },
    action: { name: 'payments.read' },
  };
  const at = '/access/v1/evaluation';
  return [
    { name: 'authzen: a permit', raw: post(at, JSON.stringify(single)), hot: true },
    {
      name: 'authzen: echoes X-Request-ID',
      raw: post(at, JSON.stringify(single), { 'x-request-id': 'req-1 abc' }),
      hot: true,
    },
    {
      name: 'authzen: does not echo a bad X-Request-ID',
      raw: post(at, JSON.stringify(single), { 'x-request-id': 'a\tb' }),
      hot: true,
    },
    {
      name: 'authzen: a deny',
      raw: post(at, JSON.stringify({ ...single, action: { name: 'payments.admin' } })),
      hot: true,
    },
    {
      name: 'authzen: with a context',
      raw: post(
        at,
        JSON.stringify({
          ...single,
          context: { tenant: 'default', ticket: 'INC-1', client: { ip: '198.51.100.7' } },
        }),
      ),
      hot: true,
    },
    {
      name: 'authzen: invalid',
      raw: post(at, JSON.stringify({ subject: {} }), { 'x-request-id': 'r-2' }),
      hot: true,
    },
    {
      name: 'authzen: context too large',
      raw: post(at, JSON.stringify({ ...single, context: { blob: 'x'.repeat(5000) } })),
      hot: true,
    },
    {
      name: 'authzen: invalid JSON keeps no request id',
      raw: post(at, '{', { 'x-request-id': 'r-3' }),
      hot: true,
    },
    {
      name: 'authzen: no credential',
      raw: post(at, JSON.stringify(single), { 'x-api-key': '', 'x-request-id': 'r-4' }),
      hot: true,
    },
    {
      name: 'authzen: wrong role',
      raw: post(at, JSON.stringify(single), { 'x-api-key': AUTHOR_KEY }),
      hot: true,
    },
    {
      name: 'authzen: evaluations (express only)',
      raw: post(
        '/access/v1/evaluations',
        JSON.stringify({ ...single, evaluations: [{}, { action: { name: 'x' } }] }),
      ),
      hot: false,
    },
    {
      name: 'authzen: metadata (express only)',
      raw: get('/.well-known/authzen-configuration', { 'x-request-id': 'm' }),
      hot: false,
    },
  ];
}

function gatewayCases(tokens: { agent: string; obo: string; other: string }): Case[] {
  const cases: Case[] = [];
  const dialects: [string, (method: string, uri: string) => [string, Record<string, string>]][] = [
    [
      'envoy',
      (method, uri) => [`/v1/authorize${uri}`, { 'x-forwarded-for': '198.51.100.7', ':method': method }],
    ],
    [
      'nginx',
      (method, uri) => [
        '/v1/authorize',
        { 'x-original-method': method, 'x-original-uri': uri, 'x-forwarded-for': '198.51.100.7' },
      ],
    ],
    [
      'traefik',
      (method, uri) => [
        '/v1/authorize',
        {
          'x-forwarded-method': method,
          'x-forwarded-uri': uri,
          'x-forwarded-host': 'api.example.com',
          'x-forwarded-for': '198.51.100.7, 10.0.0.2',
        },
      ],
    ],
  ];
  const tokensFor: [string, string | undefined][] = [
    ['agent token', tokens.agent],
    ['obo token', tokens.obo],
    ['a token of another issuer', tokens.other],
    ['a malformed token', 'abc.def.ghi'],
    ['no token', undefined],
  ];
  for (const [dialect, ask] of dialects) {
    for (const [method, uri] of [
      ['GET', '/payments/42?expand=1'],
      ['POST', '/payments'],
      ['GET', '/healthz'],
      ['GET', '/admin'],
      ['GET', '/payments/%2e%2e/admin'],
      ['DELETE', '/payments/42'],
    ] as const) {
      for (const [tokenName, token] of tokensFor) {
        const [target, headers] = ask(method, uri);
        const { ':method': envoyMethod, ...rest } = headers;
        cases.push({
          name: `authorize (${dialect}): ${method} ${uri} with ${tokenName}`,
          raw: get(
            target,
            { ...rest, ...(token !== undefined && { authorization: `Bearer ${token}` }) },
            envoyMethod ?? 'GET',
          ),
          hot: true,
        });
      }
    }
  }
  cases.push(
    {
      name: 'authorize: no caller key',
      raw: get('/v1/authorize', { 'x-api-key': '', 'x-original-uri': '/payments/1' }),
      hot: true,
    },
    {
      name: 'authorize: a bad tenant header',
      raw: get('/v1/authorize', { 'x-pdp-tenant': 'Bad Tenant!' }),
      hot: true,
    },
    {
      name: 'authorize: an unknown tenant',
      raw: get('/v1/authorize', { 'x-pdp-tenant': 'acme', authorization: `Bearer ${tokens.agent}` }),
      hot: true,
    },
    {
      name: 'authorize: Basic authorization',
      raw: get('/v1/authorize', { authorization: 'Basic abc' }),
      hot: true,
    },
    { name: 'authorize: OPTIONS is decided', raw: get('/v1/authorize/payments', {}, 'OPTIONS'), hot: true },
    { name: 'authorize: an odd target', raw: get('/v1/authorize/%zz/..;/x', {}), hot: true },
    { name: 'authorize: a query on the prefix', raw: get('/v1/authorize?x=1', {}), hot: false },
    {
      name: 'authorize: HEAD',
      raw: get('/v1/authorize/payments/42', { authorization: `Bearer ${tokens.agent}` }, 'HEAD'),
      hot: false,
    },
    { name: 'authorize: upper case prefix', raw: get('/V1/AUTHORIZE/payments', {}), hot: false },
    { name: 'authorize: a longer word', raw: get('/v1/authorized', {}), hot: false },
  );
  return cases;
}

/** The response with its Date removed and its decision ids checked and replaced. */
function normalised(res: WireResponse): { status: number; headers: [string, string][]; body: string } {
  const ulids = (s: string): string => s.replace(ULID, '<ulid>');
  return {
    status: res.status,
    headers: [...res.headers].filter(([name]) => name !== 'date').map(([n, v]) => [n, ulids(v)]),
    body: ulids(res.body),
  };
}

async function listen(handler: RequestListener): Promise<Server> {
  const server = guardServer(createServer(API_SERVER_OPTIONS, handler), { bodyLimitBytes: 65536 });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

describe('the hot routes answer as the express routes do', () => {
  const clock = new TestClock();
  let t: TestApp;
  let hotServer: Server;
  let expressServer: Server;
  let fellThrough = 0;
  let cases: Case[];

  beforeAll(async () => {
    const issuer = await TestIssuer.create(clock.now);
    const stranger = await TestIssuer.create(clock.now);
    t = await makeApp({ clock: clock.now, apiKeys, trustedIssuers: [issuer.trusted()] });
    const hot = fastRoutes(
      {
        decisions: t.decisions,
        gateway: t.gateway,
        validators: createValidators(),
        authzen: authzenEvaluator(t.decisions),
        auth: createCallerAuth({ apiKeys }),
        logger: silentLogger,
        bodyLimitBytes: 65536,
        gatewayRoute: { pathPrefix: '/v1/authorize', trustedProxyHops: 1, mcpBodyLimitBytes: 262144 },
      },
      (req, res) => {
        fellThrough++;
        t.express(req, res);
      },
    );
    hotServer = await listen(hot);
    expressServer = await listen(t.express);
    cases = [
      ...decideCases(),
      ...authzenCases(),
      ...gatewayCases({
        agent: await issuer.token(),
        obo: await issuer.oboToken('u-42'),
        other: await stranger.token(),
      }),
    ];
  });
  afterAll(async () => {
    hotServer.close();
    expressServer.close();
    await Promise.all([once(hotServer, 'close'), once(expressServer, 'close')]);
  });

  it('on the whole corpus: status, headers in order and body', async () => {
    expect(cases.length).toBeGreaterThan(150);
    const port = (s: Server): number => (s.address() as AddressInfo).port;
    let hotServed = 0;
    for (const c of cases) {
      const before = fellThrough;
      const [viaHot] = parseResponses(await rawExchange(port(hotServer), [c.raw], { idleMs: 3000 }));
      const [viaExpress] = parseResponses(await rawExchange(port(expressServer), [c.raw], { idleMs: 3000 }));
      expect({ name: c.name, hot: fellThrough === before }).toEqual({ name: c.name, hot: c.hot });
      if (c.hot) hotServed++;
      expect(viaHot).toBeDefined();
      expect(viaExpress).toBeDefined();
      // Decision ids keep their format on both paths.
      for (const res of [viaHot, viaExpress] as WireResponse[]) {
        const id = res.headers.get('x-pdp-decision-id');
        if (id !== undefined) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      }
      expect({ name: c.name, ...normalised(viaHot as WireResponse) }).toEqual({
        name: c.name,
        ...normalised(viaExpress as WireResponse),
      });
    }
    expect(hotServed).toBeGreaterThan(130);
  }, 180_000);
});
