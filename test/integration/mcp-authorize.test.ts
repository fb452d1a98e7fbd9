import path from 'node:path';
import request from 'supertest';
import { RecordMasker } from '../../src/audit/mask';
import { ROOT, TestClock, makeApp, type TestApp } from '../helpers/app';
import { TestIssuer } from '../helpers/tokens';

const MCP_DATA = path.join(ROOT, 'examples/mcp/data');

type Dialect = 'envoy' | 'nginx';

/** One MCP POST as a gateway forwards it with its body: Envoy under the prefix, NGINX (njs) in headers. */
function post(t: TestApp, dialect: Dialect, body: unknown, token?: string, raw?: string) {
  let req =
    dialect === 'envoy'
      ? request(t.api).post('/v1/authorize/mcp')
      : request(t.api).post('/v1/authorize').set('x-original-method', 'POST').set('x-original-uri', '/mcp');
  req = req.set('content-type', 'application/json');
  if (token !== undefined) req = req.set('authorization', `Bearer ${token}`);
  return req.send(raw ?? JSON.stringify(body));
}

const call = (name: string, args: unknown, id: number | string = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

const codes = (reasons: { code: string }[]) => reasons.map((r) => r.code);

describe.each<Dialect>(['envoy', 'nginx'])('MCP routes on /v1/authorize, %s dialect', (dialect) => {
  const clock = new TestClock();
  let issuer: TestIssuer;
  let t: TestApp;
  let read: string;
  let write: string;

  beforeAll(async () => {
    issuer = await TestIssuer.create(clock.now);
    t = await makeApp({
      clock: clock.now,
      trustedIssuers: [issuer.trusted()],
      config: { dataDir: MCP_DATA, mcpBodyLimitBytes: 4096 },
    });
    read = await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] });
    write = await issuer.token({ aud: 'api://invoices', roles: ['invoices.read', 'invoices.write'] });
  });

  it('allows a listed tool with its scope and valid arguments', async () => {
    const res = await post(t, dialect, call('get_invoice', { id: 'INV-42' }), read);
    expect(res.status).toBe(200);
    expect(res.headers['x-agent-id']).toBe('agt-7f3a');
  });

  it('lets initialize, ping, notifications, lists and responses through with a valid token', async () => {
    for (const body of [
      { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18' } },
      { jsonrpc: '2.0', id: 'p', method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { jsonrpc: '2.0', id: 3, method: 'resources/templates/list' },
      { jsonrpc: '2.0', id: 4, result: {} },
    ]) {
      expect([JSON.stringify(body), (await post(t, dialect, body, read)).status]).toEqual([
        JSON.stringify(body),
        200,
      ]);
    }
  });

  it('refuses an unlisted tool with a JSON-RPC error carrying the same id', async () => {
    const res = await post(t, dialect, call('delete_invoice', {}, 'abc'), write).expect(403);
    expect(res.body).toMatchObject({
      jsonrpc: '2.0',
      id: 'abc',
      error: { code: -32001, data: { decision: 'deny', route: 'invoices-mcp' } },
    });
    expect(codes(res.body.error.data.reasons)).toEqual(['tool_not_permitted']);
    expect(res.headers['x-pdp-decision-id']).toBe(res.body.error.data.decision_id);
  });

  it('answers a scope miss with 403 insufficient_scope naming the scope (RFC 6750)', async () => {
    const res = await post(t, dialect, call('pay_invoice', { id: 'INV-1', amount: 10 }, 7), read).expect(403);
    expect(res.headers['www-authenticate']).toMatch(
      /^Bearer error="insufficient_scope", scope="invoices\.write", error_description="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:8000\/\.well-known\/oauth-protected-resource\/mcp"$/,
    );
    expect(res.body.id).toBe(7);
    expect(codes(res.body.error.data.reasons)).toEqual(['insufficient_scope']);
  });

  it('refuses arguments outside the schema (-32602) and runs custom Rego on the arguments', async () => {
    const bad = await post(t, dialect, call('get_invoice', { id: '42; drop' }), read).expect(403);
    expect(bad.body.error.code).toBe(-32602);
    expect(codes(bad.body.error.data.reasons)).toEqual(['tool_arguments_rejected']);
    expect(bad.body.error.message).toMatch(/\/id must match pattern/);
    const over = await post(t, dialect, call('pay_invoice', { id: 'INV-1', amount: 1001 }), write).expect(
      403,
    );
    // Reasons are collected: the custom policy (amount >= 500, no user) denies it too.
    expect(codes(over.body.error.data.reasons)).toEqual(['tool_arguments_rejected', 'custom_deny']);
    // 600 passes the schema; the example custom policy (input.request.mcp) wants a user for it.
    const custom = await post(t, dialect, call('pay_invoice', { id: 'INV-1', amount: 600 }), write).expect(
      403,
    );
    expect(custom.body.error.data.reasons).toEqual([
      expect.objectContaining({ code: 'custom_deny', custom_code: 'payment_needs_user' }),
    ]);
    await post(t, dialect, call('pay_invoice', { id: 'INV-1', amount: 100 }), write).expect(200);
  });

  it('refuses a whole batch when one message fails, answering every id', async () => {
    const ok = [call('get_invoice', { id: 'INV-1' }, 1), { jsonrpc: '2.0', id: 2, method: 'tools/list' }];
    await post(t, dialect, ok, read).expect(200);
    const res = await post(
      t,
      dialect,
      [...ok, call('pay_invoice', { id: 'INV-1', amount: 5 }, 3)],
      read,
    ).expect(403);
    expect(res.body.map((r: { id: number }) => r.id)).toEqual([1, 2, 3]);
    expect(codes(res.body[2].error.data.reasons)).toEqual(['insufficient_scope']);
    expect(codes(res.body[0].error.data.reasons)).toEqual(['batch_refused', 'insufficient_scope']);
    // The decide rules (custom Rego) run per message: the second call alone is denied.
    const custom = [
      call('pay_invoice', { id: 'INV-1', amount: 5 }, 1),
      call('pay_invoice', { id: 'INV-2', amount: 900 }, 2),
    ];
    const denied = await post(t, dialect, custom, write).expect(403);
    expect(codes(denied.body[1].error.data.reasons)).toEqual(['custom_deny']);
  });

  it('checks resources by URI glob and prompts by name', async () => {
    const resource = (uri: string) => ({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } });
    await post(t, dialect, resource('invoice://eu/2026/INV-1'), read).expect(200);
    const other = await post(t, dialect, resource('invoice://us/INV-1'), read).expect(403);
    expect(codes(other.body.error.data.reasons)).toEqual(['tool_not_permitted']);
    const prompt = (name: string) => ({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name } });
    await post(t, dialect, prompt('summarise_invoice'), read).expect(200);
    await post(t, dialect, prompt('other'), read).expect(403);
    // A method the section does not know is refused (default deny).
    await post(t, dialect, { jsonrpc: '2.0', id: 1, method: 'sampling/createMessage' }, read).expect(403);
  });

  it('answers 401 with resource_metadata (RFC 9728) without a token or with a bad one', async () => {
    const none = await post(t, dialect, call('get_invoice', { id: 'INV-1' })).expect(401);
    expect(none.headers['www-authenticate']).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:8000\/\.well-known\/oauth-protected-resource\/mcp"$/,
    );
    expect(none.body.id).toBe(1);
    const bad = await post(t, dialect, call('get_invoice', { id: 'INV-1' }), 'not.a.token').expect(401);
    expect(bad.headers['www-authenticate']).toContain('resource_metadata="http://127.0.0.1:8000/');
  });

  it('answers 400 mcp_request_invalid for bodies that are not JSON-RPC, and 413 beyond the limit', async () => {
    const cases: [string, number][] = [
      ['{"jsonrpc":"2.0","id":1,', -32700],
      ['{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}', -32600],
      [
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_invoice","arguments":{"__proto__":{"id":"INV-1"}}}}',
        -32600,
      ],
      ['{"jsonrpc":"1.0","id":1,"method":"ping"}', -32600],
      ['[]', -32600],
      ['{"jsonrpc":"2.0","id":1e400,"method":"ping"}', -32600],
      [`{"jsonrpc":"2.0","id":1,"method":"ping","params":${'['.repeat(70)}${']'.repeat(70)}}`, -32600],
    ];
    for (const [raw, code] of cases) {
      const res = await post(t, dialect, null, read, raw);
      expect([raw, res.status, res.body.error?.code]).toEqual([raw, 400, code]);
      expect(codes(res.body.error.data.reasons)).toEqual(['mcp_request_invalid']);
    }
    const big = await post(t, dialect, call('get_invoice', { id: 'x'.repeat(5000) }), read).expect(413);
    expect(big.body.error).toMatchObject({ code: 'payload_too_large' });
    // No body, or not JSON: an MCP POST needs one.
    const empty = await request(t.api)
      .post(dialect === 'envoy' ? '/v1/authorize/mcp' : '/v1/authorize')
      .set('x-original-method', 'POST')
      .set('x-original-uri', '/mcp')
      .set('authorization', `Bearer ${read}`)
      .expect(400);
    expect(codes(empty.body.error.data.reasons)).toEqual(['mcp_request_invalid']);
  });

  it('lets the transport GET (event stream) and DELETE (session end) through with a token only', async () => {
    for (const method of ['GET', 'DELETE']) {
      const req =
        dialect === 'envoy'
          ? method === 'GET'
            ? request(t.api).get('/v1/authorize/mcp')
            : request(t.api).delete('/v1/authorize/mcp')
          : request(t.api)
              .get('/v1/authorize')
              .set('x-original-method', method)
              .set('x-original-uri', '/mcp');
      await req.set('authorization', `Bearer ${read}`).expect(200);
    }
    await request(t.api).get('/v1/authorize').set('x-original-uri', '/mcp').expect(401);
  });

  it('serves the route protected resource metadata (RFC 9728)', async () => {
    const res = await request(t.api).get('/.well-known/oauth-protected-resource/mcp').expect(200);
    expect(res.body).toEqual({
      resource: 'http://127.0.0.1:8000/mcp',
      authorization_servers: [issuer.issuer],
      scopes_supported: ['invoices.read', 'invoices.write'],
      bearer_methods_supported: ['header'],
      resource_name: 'invoices-mcp',
    });
    await request(t.api).get('/.well-known/oauth-protected-resource/other').expect(404);
  });
});

describe('the decision log of an MCP call', () => {
  it('keeps the tool name and erases its arguments by default', () => {
    const record: { input: unknown; erased?: string[] } = {
      input: {
        request: {
          mcp: { method: 'tools/call', name: 'pay_invoice', arguments: { amount: 5 } },
          mcp_batch: [{ method: 'tools/call', name: 'pay_invoice', arguments: { amount: 5 } }],
        },
      },
    };
    const masked = new RecordMasker().mask(record);
    expect(masked.erased).toEqual(['/input/request/mcp/arguments', '/input/request/mcp_batch/0/arguments']);
    expect(masked.input).toEqual({
      request: {
        mcp: { method: 'tools/call', name: 'pay_invoice' },
        mcp_batch: [{ method: 'tools/call', name: 'pay_invoice' }],
      },
    });
  });
});
