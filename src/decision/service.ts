import { PdpError, isPdpError, toErrorBody, type ErrorBody } from '../errors';
import type { ActiveRevision, PolicyEngine } from '../engine/policy-engine';
import { POLICY_OUTCOMES, whatIfEntry } from '../engine/ca-outcomes';
import type { PolicySummary } from '../engine/tenant-data';
import type { Endpoint } from '../metrics';
import type { DecideRequest, WhatIfRequest } from '../schemas/requests';
import { parseRfc3339 } from '../schemas/rfc3339';
import type { SignalStore, SignalsQuery } from '../store/types';
import type { PolicyInput } from './input';
import { runDecision, type DecisionObserver, type Grant, type TokenDecision } from './run';
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

/** The /v1/decide response: a view of a TokenDecision (`decideResponse`). */
export interface DecideResponse {
  decision_id: string;
  decision: 'allow' | 'deny';
  grant: Grant | null;
  reasons: Reason[];
  required_controls: string[];
  policies: PolicyResult[];
  signals: TokenDecision['signals'];
  revision: string;
  evaluated_at: string;
}

/**
 * `decideResponse(d)` serialised, byte for byte as JSON.stringify writes it (the fast-routes test
 * compares them): the policy results, most of the body, are serialised once per revision.
 */
export function decideResponseJson(d: TokenDecision): string {
  let policies = '';
  for (const p of d.policies) policies += (policies === '' ? '' : ',') + policyJson(p);
  return (
    `{"decision_id":${JSON.stringify(d.decision_id)},"decision":${JSON.stringify(d.decision)}` +
    `,"grant":${JSON.stringify(d.grant)},"reasons":${JSON.stringify(d.reasons)}` +
    `,"required_controls":${JSON.stringify(d.required_controls)},"policies":[${policies}]` +
    `,"signals":${JSON.stringify(d.signals)},"revision":${JSON.stringify(d.revision)}` +
    `,"evaluated_at":${JSON.stringify(d.at_rfc3339)}}`
  );
}

/** The response fields of a decision, in documented order. */
export function decideResponse(d: TokenDecision): DecideResponse {
  return {
    decision_id: d.decision_id,
    decision: d.decision,
    grant: d.grant,
    reasons: d.reasons,
    required_controls: d.required_controls,
    policies: d.policies,
    signals: d.signals,
    revision: d.revision,
    evaluated_at: d.at_rfc3339,
  };
}

export interface DecisionDeps {
  engine: PolicyEngine;
  store: SignalStore;
  validators: Validators;
  clock: () => number;
  newId: (now: number) => string;
  /** Told of every decision after it is made (metrics, decision log); must not throw or block. */
  observe?: DecisionObserver;
}

/** Who asked, and through which endpoint; carried into metrics and the decision log. */
export interface DecisionContext {
  endpoint?: Endpoint;
  caller?: string | null;
}

/** The tenant's compiled policies in the revision that decided (the tenant Rego reads: "" is default). */
export function tenantPolicies(revision: ActiveRevision, tenant: unknown): readonly PolicySummary[] {
  const name = typeof tenant === 'string' && tenant !== '' ? tenant : 'default';
  return Object.hasOwn(revision.tenants, name) ? (revision.tenants[name]?.policies ?? []) : [];
}

/**
 * Per compiled policy, its result per outcome code: the static fields are derived once per
 * revision (compiled policies are per revision), not per decision. Shared between responses, so
 * never mutated (what-if copies before adding its conditions).
 */
const REPORTS = new WeakMap<PolicySummary, PolicyResult[]>();
/** The JSON of each shared result, written when it is made. */
const REPORT_JSON = new WeakMap<PolicyResult, string>();

function policyJson(p: PolicyResult): string {
  return REPORT_JSON.get(p) ?? JSON.stringify(p);
}

function report(policy: PolicySummary | undefined, code: unknown): PolicyResult {
  const outcome = typeof code === 'number' ? POLICY_OUTCOMES[code] : undefined;
  if (policy === undefined || outcome === undefined) {
    throw new PdpError('policy_evaluation_failed', 'the policy reported an outcome for no known policy');
  }
  let reports = REPORTS.get(policy);
  if (reports === undefined) {
    reports = [];
    REPORTS.set(policy, reports);
  }
  const index = code as number;
  let result = reports[index];
  if (result === undefined) {
    result = {
      id: policy.id,
      name: typeof policy.displayName === 'string' ? policy.displayName : policy.id,
      state: policy.state,
      result: outcome[0],
      reason: outcome[1],
      controls: [...policy.controls],
    };
    reports[index] = result;
    REPORT_JSON.set(result, JSON.stringify(result));
  }
  return result;
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
    return { ...r, conditions };
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

  async decide(request: DecideRequest, ctx: DecisionContext = {}): Promise<TokenDecision> {
    const startedNs = process.hrtime.bigint();
    const now = this.deps.clock();
    const signals = await this.deps.store.readSignals(signalsQuery(request));
    return runDecision(
      this.deps,
      { kind: 'token', entrypoint: 'agent/decide/result', request, signals },
      { endpoint: ctx.endpoint ?? 'decide', caller: ctx.caller ?? null, now, startedNs },
    );
  }

  async whatif(request: WhatIfRequest, ctx: DecisionContext = {}): Promise<TokenDecision> {
    const startedNs = process.hrtime.bigint();
    const overrides = request.overrides ?? {};
    const clock = this.deps.clock();
    const now = overrides.now !== undefined ? overrideNow(overrides.now) : clock;
    const { overrides: _o, policy_ids: policyIds, ...decide } = request;
    if (overrides.sign_in_risk !== undefined) {
      decide.client = { ...decide.client, sign_in_risk: overrides.sign_in_risk };
    }
    const signals = await this.deps.store.readSignals(signalsQuery(decide));
    const adjust = (input: PolicyInput): void => {
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
    };
    return runDecision(
      this.deps,
      { kind: 'token', entrypoint: 'agent/whatif/result', request: decide, signals, adjust },
      { endpoint: 'whatif', caller: ctx.caller ?? null, now, idTime: clock, startedNs },
    );
  }

  /** Each item is validated and decided on its own: one bad item is an error in its slot. */
  async decideBatch(items: unknown[], ctx: DecisionContext = {}): Promise<(DecideResponse | ErrorBody)[]> {
    const itemCtx: DecisionContext = { endpoint: 'decide_batch', caller: ctx.caller ?? null };
    return Promise.all(
      items.map(async (item, i) => {
        try {
          return decideResponse(
            await this.decide(this.deps.validators.decide(item, `/requests/${i}`), itemCtx),
          );
        } catch (err) {
          if (isPdpError(err) && err.status < 500) return toErrorBody(err);
          throw err;
        }
      }),
    );
  }
}
