import type { GatewayDecision } from '../decision/run';
import type { McpReason } from './check';
import type { McpBody } from './messages';

/**
 * A denied MCP request's body: the JSON-RPC error response(s) an MCP client reports, one per
 * request id (a batch answers a batch), with the PDP's verdict in `error.data`.
 */

/** JSON-RPC 2.0's codes where they fit; -32001 (server-defined range) for a policy refusal. */
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const INVALID_PARAMS = -32602;
export const POLICY_DENIED = -32001;

function codeOf(reasons: readonly McpReason[], body: McpBody | null): number {
  const first = reasons[0]?.code;
  if (first === 'mcp_request_invalid')
    return body !== null && !body.ok && reasons[0]?.message.startsWith('The body is not valid JSON')
      ? PARSE_ERROR
      : INVALID_REQUEST;
  if (first === 'tool_arguments_rejected') return INVALID_PARAMS;
  return POLICY_DENIED;
}

function errorResponse(
  id: string | number | null,
  reasons: readonly McpReason[],
  d: GatewayDecision,
  body: McpBody | null,
): object {
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: codeOf(reasons, body),
      message: reasons[0]?.message ?? 'Denied by policy',
      data: {
        decision: 'deny',
        decision_id: d.decision_id,
        status: d.status,
        route: d.route?.id ?? null,
        reasons,
      },
    },
  };
}

/** The JSON-RPC body of a denial; `body` as the service read it (null: none). */
export function jsonRpcDenial(d: GatewayDecision, body: McpBody | null): object {
  const reasons = d.reasons as McpReason[];
  if (body === null || !body.ok) {
    const ids = body?.ids ?? [];
    if (ids.length <= 1) return errorResponse(ids[0] ?? null, reasons, d, body);
    return ids.map((id) => errorResponse(id, reasons, d, body));
  }
  // Reasons that name no message (the route's, the decide rules') refuse every message.
  const shared = reasons.filter((r) => r.mcp_index === undefined);
  const answers: object[] = [];
  for (const [i, m] of body.messages.entries()) {
    if (m.id === undefined && body.batch) continue; // notifications get no response
    const own = reasons.filter((r) => r.mcp_index === i);
    const mine = own.length > 0 ? own : shared.length > 0 ? shared : reasons;
    const batchNote: McpReason[] =
      own.length === 0 && shared.length === 0
        ? [{ code: 'batch_refused', message: 'Another message of the batch was denied.', policy_id: null }]
        : [];
    answers.push(errorResponse(m.id ?? null, [...batchNote, ...mine], d, body));
  }
  if (!body.batch) return answers[0] ?? errorResponse(null, reasons, d, body);
  return answers.length > 0 ? answers : [errorResponse(null, reasons, d, body)];
}
