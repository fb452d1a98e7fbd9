/**
 * One decision-log record per decision, one JSON line each. Field names follow OPA's decision log
 * where they overlap (`decision_id`, `timestamp`, `input`, `result`, `labels`, `erased`); `endpoint`
 * plays the part of OPA's `path` and `revision` that of `bundles.<name>.revision`.
 */

export type DecisionEndpoint = 'decide' | 'decide_batch' | 'authorize' | 'authzen';

export interface DecisionGrant {
  audience: string;
  scopes: string[];
  ttl_seconds: number;
}

export interface DecisionResult {
  decision: 'allow' | 'deny';
  /** decide: the grant, null on deny. Absent for gateway decisions. */
  grant?: DecisionGrant | null;
  /** authorize / authzen: the HTTP status the gateway got (200, 401, 403). */
  status?: number;
}

export interface DecisionReason {
  code: string;
  message?: string;
  policy_id?: string | null;
  custom_code?: string;
}

export interface DecisionPolicyResult {
  id: string;
  /** Entra vocabulary: success, failure, notApplied, notEnabled, reportOnly*. */
  result: string;
  reason?: string;
}

export interface DecisionRecord {
  decision_id: string;
  /** RFC 3339, UTC, millisecond precision. */
  timestamp: string;
  endpoint: DecisionEndpoint;
  tenant: string;
  /** The authenticated caller's name (API key name, JWT subject), or null when auth is off. */
  caller: string | null;
  /** The policy input as evaluated, with credentials erased (see mask.ts). */
  input: unknown;
  result: DecisionResult;
  reasons: DecisionReason[];
  policies: DecisionPolicyResult[];
  /** `<bundle revision>+<data revision>`, as in the decide response. */
  revision: string;
  latency_ms: number;
  /** e.g. {service, pid, worker}; DecisionLog stamps its configured labels on records without any. */
  labels?: Readonly<Record<string, string>>;
  /** JSON pointers (rooted at the record) whose values were removed before the record left the process. */
  erased?: string[];
}

/** The fields of a decision (src/decision/run.ts, `Decision`) a record is made of. */
export interface LoggedDecision {
  decision_id: string;
  /** When the decision was made, RFC 3339. */
  at_rfc3339: string;
  endpoint: DecisionEndpoint;
  tenant: string;
  caller: string | null;
  input: unknown;
  decision: 'allow' | 'deny';
  grant?: DecisionGrant | null;
  status?: number;
  reasons: readonly DecisionReason[];
  policies: readonly DecisionPolicyResult[];
  revision: string;
}

/**
 * Builds a record without copying the input: masking is copy-on-write and happens later, off the
 * response path. Only the fields a log reader needs are kept from reasons and policies.
 */
export function recordOf(d: LoggedDecision, latencyMs: number): DecisionRecord {
  const result: DecisionResult = { decision: d.decision };
  if (d.grant !== undefined) result.grant = d.grant;
  if (d.status !== undefined) result.status = d.status;
  return {
    decision_id: d.decision_id,
    timestamp: d.at_rfc3339,
    endpoint: d.endpoint,
    tenant: d.tenant,
    caller: d.caller,
    input: d.input,
    result,
    reasons: d.reasons.map(reasonOf),
    policies: d.policies.map(policyOf),
    revision: d.revision,
    latency_ms: Math.round(latencyMs * 1000) / 1000,
  };
}

function reasonOf(r: DecisionReason): DecisionReason {
  const out: DecisionReason = { code: r.code };
  if (r.message !== undefined) out.message = r.message;
  if (r.policy_id !== undefined) out.policy_id = r.policy_id;
  if (r.custom_code !== undefined) out.custom_code = r.custom_code;
  return out;
}

function policyOf(p: DecisionPolicyResult): DecisionPolicyResult {
  const out: DecisionPolicyResult = { id: p.id, result: p.result };
  if (p.reason !== undefined) out.reason = p.reason;
  return out;
}
