import type { DecideRequest } from '../schemas/requests';
import { parseRfc3339 } from '../schemas/rfc3339';
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
  policy_ids?: string[];
}

/** A stored `expires_at` as epoch seconds; a stored value is not trusted to be a string. */
export function epochOf(rfc3339: unknown): number | null {
  if (rfc3339 === null || rfc3339 === undefined) return null;
  const ms = typeof rfc3339 === 'string' ? parseRfc3339(rfc3339) : null;
  // An unparseable expiry (written around the API) counts as already expired: fail closed.
  return ms === null ? 0 : Math.floor(ms / 1000);
}

export function buildInput(request: DecideRequest, signals: SignalSnapshot, nowMs: number): PolicyInput {
  const agent = signals.agent;
  return {
    now: { epoch_seconds: Math.floor(nowMs / 1000), rfc3339: new Date(nowMs).toISOString() },
    request: { ...request, tenant: request.tenant ?? 'default' },
    directory: {
      agent: agent === null ? null : { ...agent, expires_at_epoch: epochOf(agent.expires_at) },
      blueprint: signals.blueprint,
      // Only the agent user the token names, and only in its flow (the store reads none otherwise).
      agent_user: request.flow === 'agent_user' ? signals.agentUser : null,
      resource: signals.resource,
      resource_agent: signals.resourceAgent,
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
  };
}
