import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import request from 'supertest';
import type { ErrorDetail } from '../../src/errors';
import { BodyMemo } from '../../src/mcp/body-memo';
import { compileMcpRoutes } from '../../src/mcp/route-index';
import { createAjv } from '../../src/schemas/ajv';
import { ROOT, TestClock, makeApp, type TestApp } from '../helpers/app';
import { TestIssuer } from '../helpers/tokens';

/**
 * MCP checks remember bodies by their bytes (BodyMemo) and policy results under a key that names
 * the body by its id (evaluateKeyed). Neither may change an answer: every answer here is compared
 * with a service that has both memos off, at one frozen instant.
 */

const MCP_DATA = path.join(ROOT, 'examples/mcp/data');

interface Answer {
  status: number;
  body: unknown;
  challenge: string | undefined;
  agent: string | undefined;
}

function post(t: TestApp, uri: string, raw: string, token: string | undefined) {
  let req = request(t.api)
    .post('/v1/authorize')
    .set('x-original-method', 'POST')
    .set('x-original-uri', uri)
    .set('content-type', 'application/json');
  if (token !== undefined) req = req.set('authorization', `Bearer ${token}`);
  return req.send(raw);
}

/** An answer without what differs per decision (its id). */
async function answer(t: TestApp, uri: string, raw: string, token: string | undefined): Promise<Answer> {
  const res = await post(t, uri, raw, token);
  const text = JSON.stringify(res.body).replace(/"decision_id":"[^"]+"/g, '"decision_id":"-"');
  return {
    status: res.status,
    body: JSON.parse(text) as unknown,
    challenge: res.headers['www-authenticate'],
    agent: res.headers['x-agent-id'],
  };
}

const call = (name: string, args: unknown, id: number | string = 1) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

describe('MCP checks with the memos of bodies and results', () => {
  const clock = new TestClock();
  let issuer: TestIssuer;
  let memo: TestApp;
  let plain: TestApp;
  const tokens: Record<string, string | undefined> = {};

  beforeAll(async () => {
    issuer = await TestIssuer.create(clock.now);
    const app = (entries: number) =>
      makeApp({
        clock: clock.now,
        trustedIssuers: [issuer.trusted()],
        config: { dataDir: MCP_DATA, mcpBodyLimitBytes: 8192, evalMemoEntries: entries },
      });
    [memo, plain] = await Promise.all([app(4096), app(0)]);
    tokens['none'] = undefined;
    tokens['read'] = await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] });
    tokens['write'] = await issuer.token({
      aud: 'api://invoices',
      roles: ['invoices.read', 'invoices.write'],
    });
    tokens['other'] = await issuer.token({
      aud: 'api://invoices',
      azp: 'agt-unknown',
      roles: ['invoices.write'],
    });
    tokens['payments'] = await issuer.token({ roles: ['payments.read'] });
  });

  it('answers a generated corpus of bodies, tokens and paths exactly as without memos, asked twice', async () => {
    const id = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b'));
    const args = fc.oneof(
      fc.record({ id: fc.constantFrom('INV-1', 'INV-22', '42; drop', '') }),
      fc.record({ id: fc.constantFrom('INV-1', 'x'), amount: fc.constantFrom(-1, 10, 600, 1001, 1e308) }),
      fc.constant({}),
      fc.constant([]),
      fc.constant('text'),
    );
    const message = fc.oneof(
      fc
        .tuple(fc.constantFrom('get_invoice', 'pay_invoice', 'list_invoices', 'delete_invoice'), args, id)
        .map(([n, a, i]) => JSON.parse(call(n, a, i)) as unknown),
      fc
        .tuple(fc.constantFrom('invoice://eu/1', 'invoice://us/1', ''), id)
        .map(([uri, i]) => ({ jsonrpc: '2.0', id: i, method: 'resources/read', params: { uri } })),
      fc.constantFrom(
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 9, method: 'sampling/unknown' },
        { jsonrpc: '1.0', id: 1, method: 'ping' },
      ),
    );
    const body = fc.oneof(
      message.map((m) => JSON.stringify(m)),
      fc.array(message, { minLength: 1, maxLength: 3 }).map((ms) => JSON.stringify(ms)),
      fc.constantFrom('', '{', '[]', '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}', '{"__proto__":{}}'),
    );
    const cases = fc.sample(
      fc.record({
        raw: body,
        token: fc.constantFrom('none', 'read', 'write', 'other', 'payments'),
        uri: fc.constantFrom('/mcp', '/mcp?session=1', '/healthz', '/other'),
      }),
      { numRuns: 150, seed: 7 },
    );
    let compared = 0;
    for (const round of [0, 1]) {
      for (const c of round === 0 ? cases : [...cases].reverse()) {
        const token = tokens[c.token];
        const [a, b] = await Promise.all([
          answer(memo, c.uri, c.raw, token),
          answer(plain, c.uri, c.raw, token),
        ]);
        expect({ ...c, answer: a }).toEqual({ ...c, answer: b });
        compared++;
      }
    }
    expect(compared).toBe(300);
    // The corpus is not all one answer.
    const statuses = new Set<number>();
    for (const c of cases.slice(0, 40))
      statuses.add((await post(memo, c.uri, c.raw, tokens[c.token])).status);
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 401, 403]));
  });

  it('judges the same bytes per token: one token allowed, the other refused, interleaved', async () => {
    const raw = call('pay_invoice', { id: 'INV-1', amount: 10 });
    for (let i = 0; i < 3; i++) {
      expect((await post(memo, '/mcp', raw, tokens['write'])).status).toBe(200);
      const refused = await post(memo, '/mcp', raw, tokens['read']);
      expect(refused.status).toBe(403);
      expect(refused.headers['www-authenticate']).toContain('insufficient_scope');
    }
  });

  it('judges a remembered body by the routes of the revision that serves', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mcp-memo-'));
    cpSync(MCP_DATA, dir, { recursive: true });
    const t = await makeApp({
      clock: clock.now,
      trustedIssuers: [issuer.trusted()],
      config: { dataDir: dir, mcpBodyLimitBytes: 8192 },
    });
    const raw = call('get_invoice', { id: 'INV-7' });
    expect((await post(t, '/mcp', raw, tokens['read'])).status).toBe(200);
    // The same tool now takes only ids of one digit past 7: INV-7 is refused.
    const file = path.join(dir, 'default/gateway-routes.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('^INV-[0-9]{1,10}$', '^INV-[89]$'));
    expect((await t.engine.reload()).changed).toBe(true);
    const after = await post(t, '/mcp', raw, tokens['read']);
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe(-32602);
    await t.services.close(1000);
  });

  afterAll(async () => {
    await Promise.all([memo.services.close(1000), plain.services.close(1000)]);
  });
});

describe('BodyMemo', () => {
  it('reads equal bytes once and other bytes afresh, and is bounded', () => {
    const m = new BodyMemo({ entries: 2, maxBytes: 1 << 20 });
    const a = Buffer.from(call('get_invoice', { id: 'INV-1' }));
    const a2 = Buffer.from(call('get_invoice', { id: 'INV-1' }));
    const b = Buffer.from(call('get_invoice', { id: 'INV-2' }));
    const c = Buffer.from(call('get_invoice', { id: 'INV-3' }));
    const first = m.read(a);
    expect(m.read(a2)).toBe(first);
    const other = m.read(b);
    expect(other).not.toBe(first);
    expect(other.id).not.toBe(first.id);
    expect(other.first).toEqual({ method: 'tools/call', name: 'get_invoice', arguments: { id: 'INV-2' } });
    m.read(c);
    // Two entries: the oldest went, and reading it again gives a new id for the same content.
    const again = m.read(a);
    expect(again).not.toBe(first);
    expect(again.id).not.toBe(first.id);
    expect(Object.isFrozen(again.first?.arguments)).toBe(true);
  });

  it('reads every body afresh when off, with ids never reused', () => {
    const m = new BodyMemo({ entries: 0, maxBytes: 0 });
    const a = Buffer.from(call('get_invoice', { id: 'INV-1' }));
    const ids = new Set([m.read(a).id, m.read(a).id, new BodyMemo().read(a).id]);
    expect(ids.size).toBe(3);
  });

  it('remembers denials per route instance and permission set', () => {
    const routesOf = (pattern: string) => {
      const doc = JSON.parse(readFileSync(path.join(MCP_DATA, 'default/gateway-routes.json'), 'utf8')) as {
        routes: object[];
      };
      const text = JSON.stringify(doc.routes).replace('^INV-[0-9]{1,10}$', pattern);
      const details: ErrorDetail[] = [];
      const routes = compileMcpRoutes(
        { routes: JSON.parse(text) as object[] },
        createAjv(),
        'routes.json',
        details,
      );
      expect(details).toEqual([]);
      return routes;
    };
    const [before] = routesOf('^INV-[0-9]{1,10}$').filter((r) => r.id === 'invoices-mcp');
    const [after] = routesOf('^INV-[89]$').filter((r) => r.id === 'invoices-mcp');
    const read = new BodyMemo().read(Buffer.from(call('get_invoice', { id: 'INV-7' })));
    const held = new Set(['invoices.read']);
    expect(read.denials(before!, 'POST', held, 'invoices.read')).toEqual([]);
    expect(read.denials(after!, 'POST', held, 'invoices.read').map((r) => r.code)).toEqual([
      'tool_arguments_rejected',
    ]);
    expect(read.denials(before!, 'POST', new Set(), '').map((r) => r.code)).toEqual(['insufficient_scope']);
  });
});
