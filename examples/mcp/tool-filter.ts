/**
 * MCP-server middleware: list only the tools the calling agent may use, as agent-pdp decides it.
 *
 * The gateway in front (examples/mcp/nginx.conf) has already authorized the request and passes
 * the agent in X-Agent-Id. Before answering tools/list, the server asks agent-pdp's AuthZEN Action
 * Search which scopes that agent may use on the server's resource (the policy that decides each
 * tools/call), and offers only the tools one of whose scopes is among them: the rule the gateway
 * applies to tools/call. Any failure offers nothing (fail closed).
 *
 *   const permitted = toolFilter({ pdpUrl, resource: 'api://invoices', tools: route.mcp.tools });
 *   const allowed = await permitted({ agentId: req.headers['x-agent-id'] });
 *   for (const [name, tool] of myTools) if (allowed.has(name)) server.registerTool(name, ...tool);
 *
 * Dependency-free (global fetch), so it can be copied into any Node MCP server.
 */

export interface ToolFilterOptions {
  /** agent-pdp's base URL, e.g. http://127.0.0.1:8181. */
  pdpUrl: string;
  /** The PDP key (role `authorize`), when caller auth is on. */
  apiKey?: string;
  /** The resource the MCP server is (the route's `resource`), e.g. api://invoices. */
  resource: string;
  resourceType?: string;
  /** The route's `mcp.tools`: tool name → the scopes any one of which lets an agent use it. */
  tools: Record<string, { scopes: string[] }>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface Caller {
  agentId: string | string[] | undefined;
  tenant?: string;
  client?: { ip?: string; country?: string };
}

const SEARCH_ACTION = '/access/v1/search/action';
/** Pages a listing may take before it is given up (a misbehaving PDP cannot loop the server). */
const MAX_PAGES = 20;

export function toolFilter(options: ToolFilterOptions): (caller: Caller) => Promise<Set<string>> {
  const tools = Object.entries(options.tools);
  return async (caller) => {
    const agentId = caller.agentId;
    if (typeof agentId !== 'string' || agentId === '') return new Set();
    let scopes: Set<string>;
    try {
      scopes = await permittedScopes(options, { ...caller, agentId });
    } catch {
      return new Set();
    }
    return new Set(tools.filter(([, tool]) => tool.scopes.some((s) => scopes.has(s))).map(([name]) => name));
  };
}

async function permittedScopes(
  options: ToolFilterOptions,
  caller: Caller & { agentId: string },
): Promise<Set<string>> {
  const doFetch = options.fetch ?? fetch;
  const context = {
    ...(caller.tenant !== undefined && { tenant: caller.tenant }),
    ...(caller.client !== undefined && { client: caller.client }),
  };
  const scopes = new Set<string>();
  let token = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = {
      subject: { type: 'agent', id: caller.agentId },
      resource: { type: options.resourceType ?? 'api', id: options.resource },
      ...(Object.keys(context).length > 0 && { context }),
      ...(token !== '' && { page: { token } }),
    };
    const res = await doFetch(new URL(SEARCH_ACTION, options.pdpUrl), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.apiKey !== undefined && { 'x-api-key': options.apiKey }),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
    });
    if (res.status !== 200) throw new Error(`agent-pdp search answered ${res.status}`);
    const out = (await res.json()) as { results?: unknown; page?: { next_token?: unknown } };
    if (!Array.isArray(out.results)) throw new Error('agent-pdp search answered without results');
    for (const r of out.results as { name?: unknown }[]) if (typeof r.name === 'string') scopes.add(r.name);
    token = typeof out.page?.next_token === 'string' ? out.page.next_token : '';
    if (token === '') return scopes;
  }
  throw new Error('agent-pdp search did not end');
}
