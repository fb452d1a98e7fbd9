import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { OAuthProtectedResourceMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import { z } from 'zod';
import { toolFilter, type Caller } from '../../examples/mcp/tool-filter';
import { EXAMPLE_DATA, ROOT } from '../helpers/app';
import { NGINX_MCP_EXAMPLE, NginxGateway } from '../helpers/nginx';
import { PdpProcess } from '../helpers/pdp-process';
import { freePort } from '../helpers/redis-server';
import { TestIssuer } from '../helpers/tokens';

const NJS_MODULE = '/usr/lib/nginx/modules/ngx_http_js_module.so';

/**
 * An MCP server of the official SDK with three tools, stateless Streamable HTTP (no session id
 * generator) at /mcp. It offers each agent only the tools the example middleware
 * (examples/mcp/tool-filter.ts) finds permitted for the agent NGINX names in X-Agent-Id.
 */
function mcpServer(seen: string[], permitted: (caller: Caller) => Promise<Set<string>>): HttpServer {
  return createServer((req, res) => {
    void serve(req, res);
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const allowed = await permitted({ agentId: req.headers['x-agent-id'] });
    const server = new McpServer({ name: 'invoices', version: '1.0.0' });
    const tool = (name: string, inputSchema: z.ZodRawShape) => {
      if (!allowed.has(name)) return;
      server.registerTool(name, { inputSchema }, (args: Record<string, unknown>) => {
        seen.push(`${name} agent=${String(req.headers['x-agent-id'])}`);
        return { content: [{ type: 'text', text: `${name}: ${JSON.stringify(args)}` }] };
      });
    };
    tool('list_invoices', {});
    tool('get_invoice', { id: z.string() });
    tool('pay_invoice', { id: z.string(), amount: z.number() });
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    server.connect(transport).then(
      () => transport.handleRequest(req, res),
      () => res.destroy(),
    );
  }
}

describe('an MCP SDK client and server behind a real NGINX with njs, agent-pdp deciding on each body', () => {
  let pdp: PdpProcess;
  let nginx: NginxGateway;
  let upstream: HttpServer;
  let issuer: TestIssuer;
  let base: string;
  const seen: string[] = [];

  beforeAll(async () => {
    if (!existsSync(NJS_MODULE))
      throw new Error(`${NJS_MODULE} is missing: this test needs njs (apt-get install libnginx-mod-http-js)`);
    issuer = await TestIssuer.create();
    const nginxPort = await freePort();
    // The example policies with the MCP example's routes, its metadata URL on this NGINX.
    const data = mkdtempSync(path.join(tmpdir(), 'pdp-mcp-data-'));
    cpSync(EXAMPLE_DATA, data, { recursive: true });
    const routes = readFileSync(path.join(ROOT, 'examples/mcp/data/default/gateway-routes.json'), 'utf8');
    writeFileSync(
      path.join(data, 'default/gateway-routes.json'),
      routes.replace('http://127.0.0.1:8000/', `http://127.0.0.1:${nginxPort}/`),
    );
    writeFileSync(path.join(data, 'jwks.json'), JSON.stringify(issuer.jwks));
    const { jwks: _inline, ...trusted } = issuer.trusted();
    pdp = await PdpProcess.start({
      PDP_DATA_DIR: data,
      PDP_TRUSTED_ISSUERS: JSON.stringify([{ ...trusted, jwks_file: path.join(data, 'jwks.json') }]),
    });
    const upstreamPort = await freePort();
    const route = (
      JSON.parse(routes) as {
        routes: { id: string; mcp?: { tools: Record<string, { scopes: string[] }> } }[];
      }
    ).routes.find((r) => r.id === 'invoices-mcp');
    upstream = mcpServer(
      seen,
      toolFilter({ pdpUrl: pdp.url('/'), resource: 'api://invoices', tools: route?.mcp?.tools ?? {} }),
    );
    upstream.listen(upstreamPort, '127.0.0.1');
    await once(upstream, 'listening');
    nginx = await NginxGateway.start({
      pdpPort: pdp.port,
      upstreamPort,
      example: NGINX_MCP_EXAMPLE,
      port: nginxPort,
    });
    base = nginx.base;
  }, 30_000);

  afterAll(async () => {
    await nginx.stop();
    upstream.close();
    await pdp.stop();
  });

  async function connect(roles: string[]): Promise<Client> {
    const token = await issuer.token({ aud: 'api://invoices', roles });
    const client = new Client({ name: 'agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  /** The PDP's JSON-RPC error as the client reports it (the body of the refused POST). */
  async function refusal(
    call: Promise<unknown>,
  ): Promise<{ id: unknown; error: { code: number; data: { reasons: { code: string }[] } } }> {
    const err = (await call.then(
      () => {
        throw new Error('the call was allowed');
      },
      (e: unknown) => e,
    )) as Error;
    const match = /Error POSTing to endpoint: (.*)$/s.exec(err.message);
    if (match?.[1] === undefined) throw new Error(`not a refused POST: ${err.message}`);
    return JSON.parse(match[1]) as never;
  }

  it('runs an allowed tool and refuses the others with the PDP JSON-RPC errors', async () => {
    const client = await connect(['invoices.read']);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual([
      'list_invoices',
      'get_invoice',
      'pay_invoice',
    ]);
    const ok = await client.callTool({ name: 'get_invoice', arguments: { id: 'INV-42' } });
    expect(ok.content).toEqual([{ type: 'text', text: 'get_invoice: {"id":"INV-42"}' }]);
    expect(seen).toEqual(['get_invoice agent=agt-7f3a']);

    const scope = await refusal(
      client.callTool({ name: 'pay_invoice', arguments: { id: 'INV-1', amount: 5 } }),
    );
    expect(scope.error.code).toBe(-32001);
    expect(scope.error.data.reasons.map((r) => r.code)).toEqual(['insufficient_scope']);
    const unknown = await refusal(client.callTool({ name: 'delete_invoice', arguments: {} }));
    expect(unknown.error.data.reasons.map((r) => r.code)).toEqual(['tool_not_permitted']);
    const args = await refusal(client.callTool({ name: 'get_invoice', arguments: { id: '1 or 1=1' } }));
    expect(args.error.code).toBe(-32602);
    expect(args.error.data.reasons.map((r) => r.code)).toEqual(['tool_arguments_rejected']);
    // The ids the client used, answered.
    expect([typeof scope.id, typeof unknown.id, typeof args.id]).toEqual(['number', 'number', 'number']);
    expect(seen).toHaveLength(1);
    await client.close();
  });

  it('lists, through the example middleware, only the tools the agent may use (AuthZEN action search)', async () => {
    // An agent whose blueprint may only read invoices.
    const put = (route: string, body: object) =>
      fetch(pdp.url(`/v1/tenants/default/${route}`), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect(
      (
        await put('blueprints/bp-reader', {
          display_name: 'Invoice readers',
          enabled: true,
          permissions: { 'api://invoices': ['invoices.read'] },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await put('agents/agt-reader', {
          blueprint_id: 'bp-reader',
          display_name: 'reader',
          enabled: true,
          sponsors: ['u-1'],
        })
      ).status,
    ).toBe(200);
    const token = await issuer.token({
      azp: 'agt-reader',
      xms_par_app_azp: 'bp-reader',
      aud: 'api://invoices',
      roles: ['invoices.read'],
    });
    const client = new Client({ name: 'reader', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['list_invoices', 'get_invoice']);
    await client.close();
  });

  it('refuses a whole batch with one bad call', async () => {
    const token = await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    await transport.start();
    const call = (id: number, name: string) => ({
      jsonrpc: '2.0' as const,
      id,
      method: 'tools/call',
      params: { name, arguments: { id: 'INV-1' } },
    });
    const body = await refusal(transport.send([call(1, 'get_invoice'), call(2, 'pay_invoice')] as never));
    expect((body as unknown as { id: number }[]).map((r) => r.id)).toEqual([1, 2]);
    expect(seen.filter((s) => s.startsWith('pay_invoice'))).toEqual([]);
    await transport.close();
  });

  it('blocks the next call once the agent is at high risk', async () => {
    const client = await connect(['invoices.read']);
    await client.callTool({ name: 'list_invoices', arguments: {} });
    const raised = await fetch(pdp.url('/v1/tenants/default/risky-agents/confirmCompromised'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agentIds: ['agt-7f3a'] }),
    });
    expect(raised.status).toBe(204);
    try {
      const blocked = await refusal(client.callTool({ name: 'list_invoices', arguments: {} }));
      expect(blocked.error.data.reasons.map((r) => r.code)).toContain('ca_block');
    } finally {
      await fetch(pdp.url('/v1/tenants/default/risky-agents/dismiss'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agentIds: ['agt-7f3a'] }),
      });
      await client.close();
    }
  });

  it('answers 401 with resource_metadata whose document is served and valid, and 403 insufficient_scope', async () => {
    const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: {} };
    const res = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(init),
    });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    const url = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(url).toBe(`${base}/.well-known/oauth-protected-resource/mcp`);
    const doc = await fetch(url as string);
    expect(doc.status).toBe(200);
    const metadata = OAuthProtectedResourceMetadataSchema.parse(await doc.json());
    expect(metadata).toMatchObject({
      resource: `${base}/mcp`,
      authorization_servers: [issuer.issuer],
      scopes_supported: ['invoices.read', 'invoices.write'],
    });

    const token = await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] });
    const pay = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'pay_invoice', arguments: { id: 'INV-1', amount: 1 } },
      }),
    });
    expect(pay.status).toBe(403);
    expect(pay.headers.get('www-authenticate')).toMatch(
      /^Bearer error="insufficient_scope", scope="invoices\.write"/,
    );
    expect(((await pay.json()) as { id: number }).id).toBe(9);
  });
});
