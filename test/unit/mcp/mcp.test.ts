import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TenantDataCompiler } from '../../../src/engine/tenant-data';
import { PdpError } from '../../../src/errors';
import { checkMcp } from '../../../src/mcp/check';
import { MAX_MCP_BATCH, readMcpBody } from '../../../src/mcp/messages';
import { compileMcpRoutes, mcpCandidates, mcpRouteAt, resourceGlob } from '../../../src/mcp/route-index';
import { createAjv } from '../../../src/schemas/ajv';
import type { ErrorDetail } from '../../../src/errors';

const body = (value: unknown) => readMcpBody(Buffer.from(JSON.stringify(value)));

function route(mcp: object, extra: object = {}) {
  const details: ErrorDetail[] = [];
  const routes = compileMcpRoutes(
    { routes: [{ id: 'r', path: '/mcp', resource: 'api://x', methods: ['POST'], mcp, ...extra }] },
    createAjv(),
    'gateway-routes.json',
    details,
  );
  return { route: routes[0]!, details };
}

describe('readMcpBody', () => {
  it('reads a request, a notification, a response and a batch', () => {
    expect(body({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't' } })).toEqual({
      ok: true,
      batch: false,
      messages: [{ kind: 'request', id: 1, method: 'tools/call', name: 't', arguments: {} }],
    });
    const batch = body([
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'a', result: {} },
    ]);
    expect(batch.ok && batch.messages.map((m) => m.kind)).toEqual(['notification', 'response']);
  });

  it.each([
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
    ['empty', Buffer.alloc(0)],
    ['a repeated key', Buffer.from('{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"ping"}')],
    [
      '__proto__ escaped',
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"\\u005f_proto__":{}}}'),
    ],
    ['an id that is an object', Buffer.from('{"jsonrpc":"2.0","id":{},"method":"ping"}')],
    [
      'tools/call without an id',
      Buffer.from('{"jsonrpc":"2.0","method":"tools/call","params":{"name":"t"}}'),
    ],
    [
      'arguments that are an array',
      Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[]}}'),
    ],
    ['a response with result and error', Buffer.from('{"jsonrpc":"2.0","id":1,"result":{},"error":{}}')],
    [
      'a batch too long',
      Buffer.from(
        JSON.stringify(
          Array.from({ length: MAX_MCP_BATCH + 1 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })),
        ),
      ),
    ],
  ])('refuses %s', (_what, bytes) => {
    const read = readMcpBody(bytes);
    expect(read.ok).toBe(false);
  });
});

describe('compileMcpRoutes', () => {
  it('compiles argument schemas once and reports a bad one with its pointer', () => {
    const { details } = route({ tools: { t: { scopes: ['s'], arguments: { type: 'nope' } } } });
    expect(details).toEqual([
      expect.objectContaining({ pointer: '/routes/0/mcp/tools/t/arguments', file: 'gateway-routes.json' }),
    ]);
  });

  it('refuses schemas that nest too deep', () => {
    let schema: object = { type: 'object' };
    for (let i = 0; i < 40; i++) schema = { type: 'object', properties: { a: schema } };
    const { details } = route({ tools: { t: { scopes: ['s'], arguments: schema } } });
    expect(details[0]?.message).toMatch(/nests deeper than 32 levels/);
  });

  it('matches resource globs by segment', () => {
    expect(resourceGlob('invoice://eu/*')('invoice://eu/1')).toBe(true);
    expect(resourceGlob('invoice://eu/*')('invoice://eu/1/2')).toBe(false);
    expect(resourceGlob('invoice://eu/*')('invoice://eu/')).toBe(true);
    expect(resourceGlob('invoice://eu/**')('invoice://eu/1/2')).toBe(true);
    expect(resourceGlob('invoice://eu/**')('invoice://us/1')).toBe(false);
    expect(resourceGlob('a.b(c)')('aXb(c)')).toBe(false);
    expect(resourceGlob('a.b(c)')('a.b(c)')).toBe(true);
    expect(resourceGlob('doc://*/x/**.md')('doc://a/x/b/c.md')).toBe(true);
    expect(resourceGlob('doc://*/x/**.md')('doc://a/b/x/c.md')).toBe(false);
    expect(resourceGlob('')('')).toBe(true);
    expect(resourceGlob('**')('')).toBe(true);
  });

  it('matches many stars against a long URI in linear time, without backtracking', () => {
    const match = resourceGlob('**a**a**a**a**a**a**a**a**b');
    const started = performance.now();
    expect(match('a'.repeat(1024))).toBe(false);
    // A backtracking RegExp (.*a.*a…b) tries some 1024^8 splits of this URI; the matcher one pass.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('finds candidates by method and literal prefix, and the route a metadata path names', () => {
    const { route: r } = route({});
    expect(mcpCandidates([r], 'POST', '/mcp')).toEqual([r]);
    expect(mcpCandidates([r], 'PUT', '/mcp')).toEqual([]);
    expect(mcpCandidates([r], 'POST', '/other')).toEqual([]);
    expect(mcpRouteAt([r], '/mcp')).toBe(r);
    expect(mcpRouteAt([r], '/mcpx')).toBeUndefined();
  });
});

describe('checkMcp', () => {
  const { route: r } = route({
    tools: {
      get: {
        scopes: ['read'],
        arguments: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
      },
    },
    resources: { 'doc://**': { scopes: ['read'] } },
  });
  const held = new Set(['read']);
  const call = (name: string, args: object = { id: 'x' }) =>
    body({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } });
  const codes = (reasons: { code: string }[]) => reasons.map((x) => x.code);

  it('passes a listed tool with its scope and valid arguments', () => {
    expect(checkMcp(r, 'POST', call('get'), held)).toEqual([]);
  });

  it('refuses unlisted tools, prototype names, missing scopes and bad arguments', () => {
    expect(codes(checkMcp(r, 'POST', call('other'), held))).toEqual(['tool_not_permitted']);
    expect(codes(checkMcp(r, 'POST', call('__proto__'), held))).toEqual(['tool_not_permitted']);
    expect(codes(checkMcp(r, 'POST', call('constructor'), held))).toEqual(['tool_not_permitted']);
    expect(checkMcp(r, 'POST', call('get'), new Set())).toEqual([
      expect.objectContaining({ code: 'insufficient_scope', scope: 'read' }),
    ]);
    expect(codes(checkMcp(r, 'POST', call('get', { id: 1 }), held))).toEqual(['tool_arguments_rejected']);
  });

  it('lets GET and DELETE through, refuses other transport methods and POSTs without a body', () => {
    expect(checkMcp(r, 'GET', null, held)).toEqual([]);
    expect(checkMcp(r, 'DELETE', null, held)).toEqual([]);
    expect(codes(checkMcp(r, 'PUT', null, held))).toEqual(['mcp_request_invalid']);
    expect(codes(checkMcp(r, 'POST', null, held))).toEqual(['mcp_request_invalid']);
  });

  it('names each failing message of a batch', () => {
    const batch = body([
      { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'doc://a/b' } },
      { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'file:///etc/passwd' } },
    ]);
    expect(checkMcp(r, 'POST', batch, held)).toEqual([
      expect.objectContaining({ code: 'tool_not_permitted', mcp_index: 1 }),
    ]);
  });
});

describe('a gateway-routes document with an MCP section', () => {
  it('fails the load (data_invalid) when an argument schema does not compile', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-mcp-routes-'));
    await mkdir(path.join(dir, 'default'));
    await writeFile(
      path.join(dir, 'default/gateway-routes.json'),
      JSON.stringify({
        routes: [
          {
            id: 'm',
            path: '/mcp',
            resource: 'api://x',
            mcp: { tools: { t: { scopes: ['s'], arguments: { type: 'object', unknownKeyword: 1 } } } },
          },
        ],
      }),
    );
    const err = await new TenantDataCompiler().compile({}, dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PdpError);
    expect((err as PdpError).code).toBe('data_invalid');
    expect((err as PdpError).details[0]).toMatchObject({ pointer: '/routes/0/mcp/tools/t/arguments' });
  });

  it('refuses an MCP section on a public route and a default other than deny', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-mcp-routes-'));
    await mkdir(path.join(dir, 'default'));
    await writeFile(
      path.join(dir, 'default/gateway-routes.json'),
      JSON.stringify({
        routes: [
          { id: 'p', path: '/p', public: true, mcp: {} },
          { id: 'm', path: '/mcp', resource: 'api://x', mcp: { default: 'allow' } },
        ],
      }),
    );
    const err = (await new TenantDataCompiler().compile({}, dir).catch((e: unknown) => e)) as PdpError;
    expect(err.code).toBe('data_invalid');
    expect(err.details.map((d) => d.pointer)).toEqual(
      expect.arrayContaining(['/routes/0', '/routes/1/mcp/default']),
    );
  });
});
