import type { Reason } from '../decision/service';
import type { McpBody, McpMessage } from './messages';
import type { McpGrant, McpRoute } from './route-index';

/**
 * The MCP rules of one route for one body (README, "MCP routes"): every message must pass.
 *   tools/call, prompts/get: the tool or prompt is listed, the token holds one of its scopes and
 *     the arguments satisfy its schema;
 *   resources/read, resources/subscribe, resources/unsubscribe: the URI matches a listed glob
 *     (first match wins) and the token holds one of its scopes;
 *   initialize, ping, notifications/*, * /list, responses: nothing more than the route's own checks;
 *   any other method: refused (the section's default is deny).
 * Each reason names the message's index (`mcp_index`) so the reply can answer each id.
 */

export interface McpReason extends Reason {
  mcp_index?: number;
  /** insufficient_scope: the scopes of which the token must hold one (RFC 6750 `scope`). */
  scope?: string;
}

/** Methods that need only a valid token for the route. */
function openMethod(method: string): boolean {
  return (
    method === 'initialize' ||
    method === 'ping' ||
    method.startsWith('notifications/') ||
    method.endsWith('/list')
  );
}

function reason(code: string, message: string, index: number, batch: boolean): McpReason {
  return { code, message, policy_id: null, ...(batch && { mcp_index: index }) };
}

function firstError(grant: McpGrant): string {
  const e = grant.validate?.errors?.[0];
  if (e === undefined) return 'do not satisfy the schema';
  return `${e.instancePath === '' ? '(root)' : e.instancePath} ${e.message ?? 'is invalid'}`;
}

function scopeMiss(what: string, scopes: readonly string[], index: number, batch: boolean): McpReason {
  return {
    ...reason(
      'insufficient_scope',
      `The token holds none of the scopes ${what} requires (${scopes.join(', ')}).`,
      index,
      batch,
    ),
    scope: scopes.join(' '),
  };
}

function holdsOne(scopes: readonly string[], held: ReadonlySet<string>): boolean {
  for (const s of scopes) if (held.has(s)) return true;
  return false;
}

function checkMessage(
  route: McpRoute,
  m: McpMessage,
  held: ReadonlySet<string>,
  i: number,
  batch: boolean,
): McpReason | null {
  if (m.kind === 'response' || openMethod(m.method)) return null;
  const label = `route '${route.id}'`;
  if (m.method === 'tools/call' || m.method === 'prompts/get') {
    const tool = m.method === 'tools/call';
    const noun = tool ? 'Tool' : 'Prompt';
    const table = tool ? route.tools : route.prompts;
    const name = m.name ?? '';
    const grant = table.get(name);
    if (grant === undefined)
      return reason('tool_not_permitted', `${noun} '${name}' is not permitted on ${label}.`, i, batch);
    if (!holdsOne(grant.scopes, held))
      return scopeMiss(`${noun.toLowerCase()} '${name}'`, grant.scopes, i, batch);
    if (grant.validate !== null && !grant.validate(m.arguments)) {
      return reason(
        'tool_arguments_rejected',
        `The arguments of ${noun.toLowerCase()} '${name}' are rejected: ${firstError(grant)}.`,
        i,
        batch,
      );
    }
    return null;
  }
  if (m.name !== null && m.method.startsWith('resources/')) {
    const uri = m.name;
    const grant = route.resources.find((r) => r.matches(uri));
    if (grant === undefined)
      return reason('tool_not_permitted', `Resource '${uri}' is not permitted on ${label}.`, i, batch);
    return holdsOne(grant.scopes, held)
      ? null
      : scopeMiss(`resource '${grant.glob}'`, grant.scopes, i, batch);
  }
  return reason('tool_not_permitted', `The method '${m.method}' is not permitted on ${label}.`, i, batch);
}

/** The denials of `route` for `body` and the permissions the token holds; [] when it passes. */
export function checkMcp(
  route: McpRoute,
  httpMethod: string,
  body: McpBody | null,
  held: ReadonlySet<string>,
): McpReason[] {
  // The transport's GET (event stream) and DELETE (session end) carry no message; it uses no
  // other method, so any other is refused rather than passed on with a body nobody judged.
  if (httpMethod === 'GET' || httpMethod === 'DELETE') return [];
  if (httpMethod !== 'POST')
    return [reason('mcp_request_invalid', `The MCP transport does not use ${httpMethod}.`, 0, false)];
  if (body === null)
    return [reason('mcp_request_invalid', 'An MCP POST needs a JSON-RPC body (application/json).', 0, false)];
  if (!body.ok) {
    const where = body.pointer === '' ? '' : ` (at ${body.pointer})`;
    return [reason('mcp_request_invalid', `${body.message}${where}.`, 0, false)];
  }
  const out: McpReason[] = [];
  for (const [i, m] of body.messages.entries()) {
    const denial = checkMessage(route, m, held, i, body.batch);
    if (denial !== null) out.push(denial);
  }
  return out;
}
