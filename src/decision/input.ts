import type { AgentToken } from '../auth/agent-tokens';
import type { OriginalRequest } from '../http/original-request';
import type { DecideRequest } from '../schemas/requests';
import { parseRfc3339 } from '../schemas/rfc3339';
import { lifecycleFindings, lifecyclePolicies, type LifecycleFinding } from '../governance/lifecycle';
import type { McpSubject } from './run';
import type { AgentRecord, SignalSnapshot } from '../store/types';

/** The policy input (policies/README.md). WASM has no time builtins: `now` travels in the input. */
export interface PolicyInput {
  now: { epoch_seconds: number; rfc3339: string };
  request: DecideRequest & { tenant: string };
  directory: {
    agent: (AgentRecord & { expires_at_epoch: number | null }) | null;
    blueprint: SignalSnapshot['blueprint'];
    agent_user: SignalSnapshot['agentUser'];
    resource: SignalSnapshot['resource'];
    resource_agent: SignalSnapshot['resourceAgent'];
    /** Access-package entitlements of the agent, expired ones included (the policy compares with `now`). */
    grants: SignalSnapshot['grants'];
  };
  signals: {
    agent_risk: SignalSnapshot['agentRisk'];
    blueprint_risk: SignalSnapshot['blueprintRisk'];
    agent_user_risk: SignalSnapshot['agentUserRisk'];
    user_risk: SignalSnapshot['userRisk'];
    revocation: SignalSnapshot['revocation'];
    degraded: boolean;
    unavailable: boolean;
  };
  /** The lifecycle policies the agent fails now (src/governance/lifecycle.ts). */
  governance: { lifecycle: LifecycleFinding[] };
  policy_ids?: string[];
}

/** A stored `expires_at` as epoch seconds; a stored value is not trusted to be a string. */
export function epochOf(rfc3339: unknown): number | null {
  if (rfc3339 === null || rfc3339 === undefined) return null;
  const ms = typeof rfc3339 === 'string' ? parseRfc3339(rfc3339) : null;
  // An unparseable expiry (written around the API) counts as already expired: fail closed.
  return ms === null ? 0 : Math.floor(ms / 1000);
}

/** The governance facts of a decision: computed from what it read and its second. */
function governanceOf(signals: SignalSnapshot, nowMs: number): { lifecycle: LifecycleFinding[] } {
  return {
    lifecycle:
      signals.agent === null
        ? []
        : lifecycleFindings(
            signals.agent,
            lifecyclePolicies(signals.lifecycle),
            signals.activity,
            Math.floor(nowMs / 1000),
          ),
  };
}

/** The last `now` built: decisions at a busy PDP share their second. */
let lastNow: PolicyInput['now'] = { epoch_seconds: Number.NaN, rfc3339: '' };

/**
 * The input's `now`, to the second: the resolution every rule has (`epoch_seconds`), and the one
 * that lets identical requests within a second have identical inputs (EvaluationMemo). Frozen:
 * decisions in the same second share it.
 */
export function nowOf(nowMs: number): PolicyInput['now'] {
  const seconds = Math.floor(nowMs / 1000);
  if (seconds !== lastNow.epoch_seconds) {
    lastNow = Object.freeze({
      epoch_seconds: seconds,
      rfc3339: new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'),
    });
  }
  return lastNow;
}

export function buildInput(request: DecideRequest, signals: SignalSnapshot, nowMs: number): PolicyInput {
  const agent = signals.agent;
  return {
    now: nowOf(nowMs),
    request: { ...request, tenant: request.tenant ?? 'default' },
    directory: {
      agent: agent === null ? null : { ...agent, expires_at_epoch: epochOf(agent.expires_at) },
      blueprint: signals.blueprint,
      // Only the agent user the token names, and only in its flow (the store reads none otherwise).
      agent_user: request.flow === 'agent_user' ? signals.agentUser : null,
      resource: signals.resource,
      resource_agent: signals.resourceAgent,
      grants: signals.grants,
    },
    signals: {
      agent_risk: signals.agentRisk,
      blueprint_risk: signals.blueprintRisk,
      agent_user_risk: request.flow === 'agent_user' ? signals.agentUserRisk : null,
      user_risk: signals.userRisk,
      revocation: signals.revocation,
      degraded: signals.degraded,
      unavailable: signals.unavailable,
    },
    governance: governanceOf(signals, nowMs),
  };
}

/** The gateway's policy input: the check request as the gateway forwarded it, and the token's agent. */
export function buildGatewayInput(
  tenant: string,
  original: OriginalRequest,
  token: AgentToken | null,
  signals: SignalSnapshot,
  nowMs: number,
  mcp?: McpSubject,
): Record<string, unknown> {
  const request = gatewayRequest(tenant, original, token);
  const input: Record<string, unknown> = {
    now: nowOf(nowMs),
    request,
    token,
    directory: {
      agent:
        signals.agent === null
          ? null
          : { ...signals.agent, expires_at_epoch: epochOf(signals.agent.expires_at) },
      blueprint: signals.blueprint,
      agent_user: token?.flow === 'agent_user' ? signals.agentUser : null,
      // The gateway's resource is the route's, known only inside the policy: no registered record is read.
      resource: null,
      resource_agent: null,
      grants: signals.grants,
    },
    signals: {
      agent_risk: signals.agentRisk,
      blueprint_risk: signals.blueprintRisk,
      agent_user_risk: token?.flow === 'agent_user' ? signals.agentUserRisk : null,
      user_risk: signals.userRisk,
      revocation: signals.revocation,
      degraded: signals.degraded,
      unavailable: signals.unavailable,
    },
    governance: governanceOf(signals, nowMs),
  };
  if (mcp !== undefined) addMcp(input, mcp);
  return input;
}

/** Puts an MCP body's parts into a gateway input: `request.mcp`, `request.mcp_batch`, `mcp_checks`. */
export function addMcp(input: Record<string, unknown>, mcp: McpSubject): void {
  const request = input['request'] as Record<string, unknown>;
  if (mcp.request !== undefined) request['mcp'] = mcp.request;
  else delete request['mcp'];
  if (mcp.batch !== undefined) request['mcp_batch'] = mcp.batch;
  input['mcp_checks'] = mcp.checks;
}

function gatewayRequest(
  tenant: string,
  original: OriginalRequest,
  token: AgentToken | null,
): Record<string, unknown> {
  const request: Record<string, unknown> = {
    tenant,
    method: original.method,
    path: original.path,
    // Always present: the policy treats a missing classification as not canonical.
    path_problem: original.pathProblem,
  };
  if (original.host !== undefined) request['host'] = original.host;
  if (original.clientIp !== undefined) request['client'] = { ip: original.clientIp };
  if (token !== null) {
    request['flow'] = token.flow;
    request['agent_id'] = token.agent_id;
    if (token.user_id !== null) {
      request['user'] = {
        id: token.user_id,
        ...(token.amr !== null && { amr: token.amr }),
        ...(token.groups !== undefined && { groups: token.groups }),
        ...(token.wids !== undefined && { roles: token.wids }),
      };
    }
  }
  return request;
}
