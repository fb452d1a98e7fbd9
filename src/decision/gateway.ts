import type { AgentToken, AgentTokenVerifier } from '../auth/agent-tokens';
import type { PolicyEngine } from '../engine/policy-engine';
import { PdpError } from '../errors';
import type { OriginalRequest } from '../http/original-request';
import { UNAVAILABLE } from '../store/snapshot';
import type { SignalSnapshot, SignalStore } from '../store/types';
import { epochOf } from './input';
import {
  policyResults,
  tenantPolicies,
  type DecisionObserver,
  type PolicyResult,
  type Reason,
} from './service';

export interface GatewayResult {
  decision_id: string;
  decision: 'allow' | 'deny';
  status: 200 | 401 | 403;
  challenge: 'invalid_token' | 'insufficient_claims' | null;
  route: { id: string; resource?: string; public?: boolean } | null;
  reasons: Reason[];
  policies: PolicyResult[];
  agent_id: string | null;
  blueprint_id: string | null;
  user_id: string | null;
  /** When the challenge is insufficient_claims: tokens must be issued at or after this (epoch seconds). */
  revoked_at_epoch: number | null;
  revision: string;
}

export interface GatewayDeps {
  engine: PolicyEngine;
  store: SignalStore;
  verifier: AgentTokenVerifier;
  clock: () => number;
  newId: () => string;
  observe?: DecisionObserver;
}

interface GatewayOutput {
  decision?: unknown;
  status?: unknown;
  challenge?: unknown;
  route?: GatewayResult['route'];
  reasons?: Reason[];
  /** One outcome code per tenant policy (policyResults), none before the decide rules run. */
  policies?: unknown;
}

/** No token: nothing to read, and nothing missing either (public routes need no signals). */
const NO_SIGNALS: SignalSnapshot = { ...UNAVAILABLE, unavailable: false };

/** Inline authorization: verify the token (jose), read the agent's signals, evaluate the gateway entrypoint. */
export class GatewayService {
  constructor(private readonly deps: GatewayDeps) {}

  /** Throws PdpError('invalid_token') for a bad token; everything else is a GatewayResult. */
  async authorize(
    tenant: string,
    original: OriginalRequest,
    bearer: string | undefined,
    caller: string | null = null,
  ): Promise<GatewayResult> {
    const startedNs = process.hrtime.bigint();
    const token = bearer === undefined ? null : await this.deps.verifier.verify(bearer);
    if (token !== null && token.tenant !== tenant) {
      throw new PdpError('invalid_token', 'The token issuer is not trusted for this tenant');
    }
    const signals =
      token === null
        ? NO_SIGNALS
        : await this.deps.store.readSignals({
            tenant,
            agentId: token.agent_id,
            userId: token.user_id ?? undefined,
            agentUser: token.flow === 'agent_user',
          });
    const now = this.deps.clock();
    const input = {
      now: { epoch_seconds: Math.floor(now / 1000), rfc3339: new Date(now).toISOString() },
      request: requestOf(tenant, original, token),
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
    };
    const evalStart = process.hrtime.bigint();
    const { result, revision } = this.deps.engine.evaluate('agent/gateway/result', input);
    const evalNs = Number(process.hrtime.bigint() - evalStart);
    const out = result as GatewayOutput | undefined;
    if (out === undefined || typeof out !== 'object') {
      throw new PdpError('policy_evaluation_failed', 'agent/gateway/result is undefined for this input');
    }
    // Fail closed: only an explicit allow with status 200 passes.
    const allow = out.decision === 'allow' && out.status === 200;
    const status = allow ? 200 : out.status === 401 ? 401 : 403;
    const response: GatewayResult = {
      decision_id: this.deps.newId(),
      decision: allow ? 'allow' : 'deny',
      status,
      challenge:
        status === 401
          ? out.challenge === 'insufficient_claims'
            ? 'insufficient_claims'
            : 'invalid_token'
          : null,
      route: out.route ?? null,
      reasons: out.reasons ?? [],
      policies: policyResults(tenantPolicies(revision, tenant), out.policies),
      agent_id: token?.agent_id ?? null,
      blueprint_id: signals.agent?.blueprint_id ?? null,
      user_id: token?.user_id ?? null,
      revoked_at_epoch: signals.revocation?.revoked_at_epoch ?? null,
      revision: revision.revision,
    };
    this.deps.observe?.({
      endpoint: 'authorize',
      tenant,
      caller,
      input,
      decision: response.decision,
      decisionId: response.decision_id,
      reasons: response.reasons,
      policies: response.policies,
      result: { decision: response.decision, status: response.status, route: response.route },
      revision: response.revision,
      degraded: signals.degraded || signals.unavailable,
      startedNs,
      evalNs,
      entrypoint: 'agent/gateway/result',
    });
    return response;
  }
}

function requestOf(
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
