import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { ROOT, makeApp } from '../helpers/app';
import { TestIssuer } from '../helpers/tokens';

/**
 * Random and mutated JSON-RPC bodies against an MCP route (examples/mcp/data): the PDP answers
 * only 200, 400, 401, 403 or 413, and allows nothing its route does not list.
 */

const RUNS = 10_000;
const LIMIT = 4096;
const LISTED = new Set(['list_invoices', 'get_invoice', 'pay_invoice']);
const ANSWERS = new Set([200, 400, 401, 403, 413]);

type TokenKind = 'none' | 'read' | 'write' | 'bad';

const toolName = fc.oneof(
  fc.constantFrom(
    'list_invoices',
    'get_invoice',
    'pay_invoice',
    'delete_invoice',
    '__proto__',
    'constructor',
  ),
  fc.constantFrom('get_invoice ', 'GET_INVOICE', 'get_invoice\u0000', 'toString', ''),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.constant(null),
  fc.array(fc.constant('get_invoice'), { maxLength: 2 }),
);

const method = fc.oneof(
  fc.constantFrom(
    'tools/call',
    'tools/list',
    'initialize',
    'ping',
    'notifications/initialized',
    'resources/read',
    'resources/subscribe',
    'prompts/get',
    'completion/complete',
    'sampling/createMessage',
  ),
  fc.string({ maxLength: 16 }),
  fc.integer(),
);

const id = fc.oneof(
  fc.integer(),
  fc.constantFrom(1e308, -1e308, 2 ** 64, 0.5, -0),
  fc.string({ maxLength: 40 }),
  fc.constant(null),
  fc.boolean(),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);

const args = fc.oneof(
  fc.record({ id: fc.oneof(fc.constantFrom('INV-1', 'INV-0123456789', 'INV-', '1'), fc.string()) }),
  fc.record({ id: fc.constant('INV-9'), amount: fc.oneof(fc.double(), fc.integer(), fc.string()) }),
  fc.jsonValue({ maxDepth: 6 }),
  fc.constant({}),
);

const message = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('2.0'), fc.constantFrom('1.0', 2, null)),
    id,
    method,
    params: fc.oneof(
      fc.record({ name: toolName, arguments: args }, { requiredKeys: [] }),
      fc.record({
        uri: fc.oneof(fc.constantFrom('invoice://eu/1', 'invoice://us/1', 'file:///etc/passwd'), fc.string()),
      }),
      fc.jsonValue({ maxDepth: 3 }),
    ),
    result: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

/** A well-formed tools/call (most allows and denials come from these), sometimes with one member retyped. */
const toolCall = fc
  .record({
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 12 })),
    name: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('list_invoices', 'get_invoice', 'pay_invoice') },
      { weight: 2, arbitrary: fc.constantFrom('delete_invoice', '__proto__', 'toString', 'get_invoice ') },
      { weight: 1, arbitrary: toolName },
    ),
    arguments: fc.oneof(
      fc.constant({ id: 'INV-1' }),
      fc.constant({ id: 'INV-1', amount: 10 }),
      fc.constant({}),
      args,
    ),
    retype: fc.option(
      fc.tuple(fc.constantFrom('jsonrpc', 'id', 'method', 'params'), fc.jsonValue({ maxDepth: 2 })),
      {
        freq: 4,
      },
    ),
  })
  .map(({ id: i, name, arguments: a, retype }) => {
    const m: Record<string, unknown> = {
      jsonrpc: '2.0',
      id: i,
      method: 'tools/call',
      params: { name, arguments: a },
    };
    if (retype !== null) m[retype[0]] = retype[1];
    return m;
  });

const json = fc.oneof(
  { weight: 4, arbitrary: toolCall },
  { weight: 2, arbitrary: fc.array(fc.oneof(toolCall, message), { minLength: 1, maxLength: 4 }) },
  { weight: 2, arbitrary: message },
  { weight: 1, arbitrary: fc.array(message, { minLength: 0, maxLength: 70 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);

/** A body's bytes, mutated: truncated, a byte changed (invalid UTF-8 too), a key repeated, nested deep, padded past the limit. */
const mutation = fc.oneof(
  { weight: 6, arbitrary: fc.constant((b: Buffer) => b) },
  fc.nat().map((n) => (b: Buffer) => b.subarray(0, n % (b.length + 1))),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([n, v]) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[n % c.length] = v;
    return c;
  }),
  fc
    .constantFrom(
      Buffer.from([0xc0, 0xaf]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xff]),
      Buffer.from('"__proto__":{"x":1},'),
      Buffer.from('"\\u005f_proto__":1,'),
      Buffer.from('"method":"tools/call","method":"ping",'),
    )
    .map(
      (insert) => (b: Buffer) =>
        b.length < 2 ? insert : Buffer.concat([b.subarray(0, 1), insert, b.subarray(1)]),
    ),
  fc
    .integer({ min: 60, max: 200 })
    .map(
      (depth) => () =>
        Buffer.from(
          `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_invoice","arguments":{"id":${'['.repeat(depth)}${']'.repeat(depth)}}}}`,
        ),
    ),
  fc
    .integer({ min: LIMIT - 64, max: LIMIT * 3 })
    .map((size) => (b: Buffer) => Buffer.concat([b, Buffer.alloc(Math.max(0, size - b.length), 0x20)])),
);

interface Answer {
  status: number;
}

function post(port: number, agent: Agent, body: Buffer, token: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        agent,
        method: 'POST',
        path: '/v1/authorize/mcp',
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          ...(token !== undefined && { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0 });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What an allow implies about the body: only listed tools, with the token's scope and valid arguments. */
function allowedSoundly(body: Buffer, token: TokenKind): string | null {
  if (token === 'none' || token === 'bad') return 'allowed without a valid token';
  if (!isUtf8(body)) return 'allowed a body that is not UTF-8';
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'allowed a body that is not JSON';
  }
  for (const m of Array.isArray(value) ? value : [value]) {
    const msg = m as { method?: unknown; params?: { name?: unknown; arguments?: Record<string, unknown> } };
    if (msg.method !== 'tools/call') continue;
    const name = msg.params?.name;
    if (typeof name !== 'string' || !LISTED.has(name))
      return `allowed the unlisted tool ${JSON.stringify(name)}`;
    if (name === 'pay_invoice' && token !== 'write') return 'allowed pay_invoice without invoices.write';
    const a = msg.params?.arguments ?? {};
    if (name === 'get_invoice' && (!/^INV-[0-9]{1,10}$/.test(String(a['id'])) || Object.keys(a).length !== 1))
      return `allowed get_invoice with ${JSON.stringify(a)}`;
  }
  return null;
}

describe('random and mutated JSON-RPC bodies on an MCP route', () => {
  let server: Server;
  let port: number;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const tokens = new Map<TokenKind, string | undefined>();
  const seen = new Map<number, number>();

  beforeAll(async () => {
    const issuer = await TestIssuer.create();
    const t = await makeApp({
      trustedIssuers: [issuer.trusted()],
      config: { dataDir: path.join(ROOT, 'examples/mcp/data'), mcpBodyLimitBytes: LIMIT },
    });
    tokens.set('none', undefined);
    tokens.set('bad', 'e30.e30.sig');
    tokens.set('read', await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] }));
    tokens.set(
      'write',
      await issuer.token({ aud: 'api://invoices', roles: ['invoices.read', 'invoices.write'] }),
    );
    server = createServer(t.api);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => {
    agent.destroy();
    server.close();
  });

  it(`answers ${RUNS} bodies with 200/400/401/403/413 only, never allowing an unlisted tool`, async () => {
    await fc.assert(
      fc.asyncProperty(
        json,
        mutation,
        fc.constantFrom<TokenKind>('read', 'read', 'write', 'write', 'none', 'bad'),
        async (value, mutate, token) => {
          const body = mutate(Buffer.from(JSON.stringify(value)));
          const { status } = await post(port, agent, body, tokens.get(token));
          seen.set(status, (seen.get(status) ?? 0) + 1);
          expect(ANSWERS.has(status)).toBe(true);
          if (status === 200) expect(allowedSoundly(body, token)).toBeNull();
        },
      ),
      { numRuns: RUNS },
    );
    console.log(`MCP body fuzz: ${RUNS} bodies, answers ${JSON.stringify(Object.fromEntries(seen))}`);
    // Every kind of answer was reached: the generators exercise each branch.
    expect([...seen.keys()].sort()).toEqual([200, 400, 401, 403, 413]);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(RUNS);
  }, 300_000);
});
