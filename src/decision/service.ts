import { PdpError, isPdpError, toErrorBody, type ErrorBody } from '../errors';
import type { ActiveRevision, PolicyEngine } from '../engine/policy-engine';
import { POLICY_OUTCOMES, whatIfEntry } from '../engine/ca-outcomes';
import type { PolicySummary } from '../engine/tenant-data';
import type { Entrypoint } from '../engine/wasm-policy';
import type { Endpoint } from '../metrics';
import type { DecideRequest, WhatIfRequest } from '../schemas/requests';
import { parseRfc3339 } from '../schemas/rfc3339';
import type { SignalStore, SignalsQuery } from '../store/types';
import { buildInput, type PolicyInput } from './input';
import type { Validators } from './validators';

export interface Reason {
  code: string;
  message: string;
  policy_id: string | null;
  custom_code?: string;
}

export interface PolicyResult {
  id: string;
  name: string;
  state: string;
  result: string;
  reason: string;
  controls: string[];
  conditions?: { name: string; matched: boolean }[];
}

export interface DecideResponse {
  decision_id: string;
  decision: 'allow' | 'deny';
  grant: { audience: string; scopes: string[]; ttl_seconds: number } | null;
  reasons: Reason[];
  required_controls: string[];
  policies: PolicyResult[];
  signals: { agent_risk: string; user_risk: string; revoked: boolean; degraded: boolean };
  revision: string;
  evaluated_at: string;
}

export interface DecisionDeps {
  engine: PolicyEngine;
  store: SignalStore;
  validators: Validators;
  clock: () => number;
  newId: () => string;
  /** Told of every decision after it is made (metrics, decision log); must not throw or block. */
  observe?: DecisionObserver;
}

/** Who asked, and through which endpoint; carried into metrics and the decision log. */
export interface DecisionContext {
  endpoint?: Endpoint;
  caller?: string | null;
}

export interface DecisionEvent {
  endpoint: Endpoint;
  tenant: string;
  caller: string | null;
  input: object;
  decision: 'allow' | 'deny';
  decisionId: string;
  reasons: Reason[];
  policies: PolicyResult[];
  result: Record<string, unknown>;
  revision: string;
  degraded: boolean;
  /** process.hrtime.bigint() when the request reached the service. */
  startedNs: bigint;
  /** Nanoseconds spent in the WASM evaluation. */
  evalNs: number;
  entrypoint: Entrypoint;
}

export type DecisionObserver = (event: DecisionEvent) => void;

interface PolicyOutput {
  decision?: unknown;
  grant?: DecideResponse['grant'];
  reasons?: Reason[];
  required_controls?: string[];
  /** Outcome codes (decide, gateway) or [index, outcome, conditions] (what-if): policyResults. */
  policies?: unknown;
  signals?: DecideResponse['signals'];
}

/** The tenant's compiled policies in the revision that decided (the tenant Rego reads: "" is default). */
export function tenantPolicies(revision: ActiveRevision, tenant: unknown): readonly PolicySummary[] {
  const name = typeof tenant === 'string' && tenant !== '' ? tenant : 'default';
  return Object.hasOwn(revision.tenants, name) ? (revision.tenants[name]?.policies ?? []) : [];
}

function report(policy: PolicySummary | undefined, code: unknown): PolicyResult {
  const outcome = typeof code === 'number' ? POLICY_OUTCOMES[code] : undefined;
  if (policy === undefined || outcome === undefined) {
    throw new PdpError('policy_evaluation_failed', 'the policy reported an outcome for no known policy');
  }
  return {
    id: policy.id,
    name: typeof policy.displayName === 'string' ? policy.displayName : policy.id,
    state: policy.state,
    result: outcome[0],
    reason: outcome[1],
    controls: [...policy.controls],
  };
}

/**
 * The `policies` of a response, in tenant policy order: per policy the static fields of its
 * document (id, name, state, controls) and the result and reason its outcome code stands for.
 * Decide and the gateway report one code per tenant policy (none when nothing was evaluated);
 * what-if one [index, outcome, conditions] per selected policy. Anything else fails closed.
 */
export function policyResults(policies: readonly PolicySummary[], reported: unknown): PolicyResult[] {
  if (reported === undefined) return [];
  const perPolicy = Array.isArray(reported) && typeof reported[0] === 'number';
  if (!Array.isArray(reported) || (perPolicy && reported.length !== policies.length)) {
    throw new PdpError(
      'policy_evaluation_failed',
      'the policy reported outcomes that do not match the tenant policies',
    );
  }
  return reported.map((x: unknown, i) => {
    if (typeof x === 'number') return report(policies[i], x);
    const { index, outcome, conditions } = whatIfEntry(x);
    const r = report(typeof index === 'number' ? policies[index] : undefined, outcome);
    r.conditions = conditions;
    return r;
  });
}

/** What-if's `overrides.now`, read by the same parser as its schema format: never NaN. */
function overrideNow(text: string): number {
  const ms = parseRfc3339(text);
  if (ms === null) {
    throw new PdpError('invalid_request', 'The request body is invalid', [
      { pointer: '/overrides/now', message: 'must match format "date-time"', keyword: 'format' },
    ]);
  }
  return ms;
}

/** Decides token requests: signals from the store, then one synchronous WASM evaluation. */
/** The store reads of one decision (CONTRACT B): one round trip, Redis and memory alike. */
export function signalsQuery(request: DecideRequest): SignalsQuery {
  return {
    tenant: request.tenant ?? 'default',
    agentId: request.agent_id,
    userId: request.user?.id,
    blueprintHint: request.blueprint_id,
    agentUser: request.flow === 'agent_user',
    resource: request.resource,
  };
}

export class DecisionService {
  constructor(private readonly deps: DecisionDeps) {}

  async decide(request: DecideRequest, ctx: DecisionContext = {}): Promise<DecideResponse> {
    const startedNs = process.hrtime.bigint();
    const now = this.deps.clock();
    const signals = await this.deps.store.readSignals(signalsQuery(request));
    return this.evaluate('agent/decide/result', buildInput(request, signals, now), now, {
      endpoint: ctx.endpoint ?? 'decide',
      caller: ctx.caller ?? null,
      startedNs,
    });
  }

  async whatif(request: WhatIfRequest, ctx: DecisionContext = {}): Promise<DecideResponse> {
    const startedNs = process.hrtime.bigint();
    const overrides = request.overrides ?? {};
    const now = overrides.now !== undefined ? overrideNow(overrides.now) : this.deps.clock();
    const { overrides: _o, policy_ids: policyIds, ...decide } = request;
    if (overrides.sign_in_risk !== undefined) {
      decide.client = { ...decide.client, sign_in_risk: overrides.sign_in_risk };
    }
    const signals = await this.deps.store.readSignals(signalsQuery(decide));
    const input = buildInput(decide, signals, now);
    if (overrides.agent_risk !== undefined) {
      input.signals.agent_risk = { ...input.signals.agent_risk, level: overrides.agent_risk };
    }
    if (overrides.user_risk !== undefined) {
      // The override replaces both sources of user risk, so "what if the user were low risk" holds.
      input.signals.user_risk = { level: overrides.user_risk };
      if (input.request.user !== undefined)
        input.request.user = { ...input.request.user, risk: overrides.user_risk };
    }
    if (policyIds !== undefined) input.policy_ids = policyIds;
    return this.evaluate('agent/whatif/result', input, now, {
      endpoint: 'whatif',
      caller: ctx.caller ?? null,
      startedNs,
    });
  }

  /** Each item is validated and decided on its own: one bad item is an error in its slot. */
  async decideBatch(items: unknown[], ctx: DecisionContext = {}): Promise<(DecideResponse | ErrorBody)[]> {
    const itemCtx: DecisionContext = { endpoint: 'decide_batch', caller: ctx.caller ?? null };
    return Promise.all(
      items.map(async (item, i) => {
        try {
          return await this.decide(this.deps.validators.decide(item, `/requests/${i}`), itemCtx);
        } catch (err) {
          if (isPdpError(err) && err.status < 500) return toErrorBody(err);
          throw err;
        }
      }),
    );
  }

  private evaluate(
    entrypoint: Entrypoint,
    input: PolicyInput,
    now: number,
    ctx: { endpoint: Endpoint; caller: string | null; startedNs: bigint },
  ): DecideResponse {
    const evalStart = process.hrtime.bigint();
    const { result, revision } = this.deps.engine.evaluate(entrypoint, input);
    const evalNs = Number(process.hrtime.bigint() - evalStart);
    const out = result as PolicyOutput | undefined;
    if (out === undefined || typeof out !== 'object') {
      throw new PdpError('policy_evaluation_failed', `${entrypoint} is undefined for this input`);
    }
    // Fail closed: only the exact string "allow" with a grant allows.
    const allow = out.decision === 'allow' && out.grant !== null && out.grant !== undefined;
    const grant = allow && out.grant ? out.grant : null;
    const response: DecideResponse = {
      decision_id: this.deps.newId(),
      decision: allow ? 'allow' : 'deny',
      // Rebuilt in documented field order: WASM emits object keys in hash order.
      grant:
        grant === null
          ? null
          : { audience: grant.audience, scopes: grant.scopes, ttl_seconds: grant.ttl_seconds },
      reasons: out.reasons ?? [],
      required_controls: out.required_controls ?? [],
      policies: policyResults(tenantPolicies(revision, input.request.tenant), out.policies),
      signals: {
        agent_risk: out.signals?.agent_risk ?? 'none',
        user_risk: out.signals?.user_risk ?? 'none',
        revoked: input.signals.revocation !== null,
        degraded: input.signals.degraded,
      },
      revision: revision.revision,
      evaluated_at: new Date(now).toISOString(),
    };
    this.deps.observe?.({
      endpoint: ctx.endpoint,
      tenant: input.request.tenant,
      caller: ctx.caller,
      input,
      decision: response.decision,
      decisionId: response.decision_id,
      reasons: response.reasons,
      policies: response.policies,
      result: { decision: response.decision, grant: response.grant },
      revision: response.revision,
      degraded: input.signals.degraded || input.signals.unavailable,
      startedNs: ctx.startedNs,
      evalNs,
      entrypoint,
    });
    return response;
  }
}
