import { parseRfc3339 } from '../schemas/rfc3339';
import type { LifecycleAction, LifecyclePolicy } from '../store/types';

/**
 * Entra Agent ID's lifecycle policies, per tenant: sponsors reconfirm every N days, an agent keeps
 * a minimum number of sponsors, an agent that gets no token for N days is inactive. Each has a
 * grace period: while in it decisions allow with a warning and the sponsors are told; after it the
 * action applies, in decisions at once (they read the agent's dates and `now`) and in the
 * directory when the lifecycle worker runs.
 *
 * The findings are computed here, once, from the records a decision read and its `now` (so they
 * are part of the policy input and of its memo key); the policy turns them into warnings or a
 * deny (guardrails.rego), and the worker into notices and actions.
 */

const DAY = 86_400;

/**
 * With no policies set, a tenant has this one: an agent whose last sponsor leaves keeps working
 * for 14 days (its sponsors' manager is told), then is disabled. An agent created without a
 * sponsor is denied at once (agent_no_sponsor): it never had one to lose.
 */
export const DEFAULT_LIFECYCLE_POLICIES: readonly LifecyclePolicy[] = Object.freeze([
  Object.freeze({ kind: 'minimumSponsors', minimum: 1, grace_days: 14, action: 'disable' } as const),
]);

export type LifecycleKind = LifecyclePolicy['kind'];

/** One policy an agent fails: `grace` until `action_epoch`, then `action`. */
export interface LifecycleFinding {
  kind: LifecycleKind;
  phase: 'grace' | 'action';
  /** When the agent began failing the policy (epoch seconds). */
  due_epoch: number;
  /** When the action applies (epoch seconds). */
  action_epoch: number;
  action: LifecycleAction;
  /** `action_epoch` in RFC 3339 (the policy's messages name it; WASM formats no dates). */
  action_at: string;
  /** disableThenDelete: when the disabled agent is deleted (one more grace period). */
  delete_epoch?: number;
}

const ACTIONS: ReadonlySet<string> = new Set(['disable', 'delete', 'disableThenDelete']);

function own(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function int(value: unknown, min: number, max: number): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : null;
}

/**
 * The policies of a stored lifecycle record. The API validates what it writes (schemas/lifecycle),
 * but a stored value is not trusted: a record that is not one, or holds no valid policy, means the
 * defaults; an entry that is not a valid policy is left out.
 */
export function lifecyclePolicies(record: unknown): readonly LifecyclePolicy[] {
  const list = own(record, 'policies');
  if (!Array.isArray(list)) return DEFAULT_LIFECYCLE_POLICIES;
  const out: LifecyclePolicy[] = [];
  const seen = new Set<string>();
  for (const p of list) {
    const kind = own(p, 'kind');
    const grace = int(own(p, 'grace_days'), 0, 365);
    const action = own(p, 'action');
    if (grace === null || typeof action !== 'string' || !ACTIONS.has(action) || typeof kind !== 'string')
      continue;
    if (seen.has(kind)) continue;
    const base = { grace_days: grace, action: action as LifecycleAction };
    if (kind === 'sponsorReconfirmation') {
      const n = int(own(p, 'interval_days'), 30, 730);
      if (n !== null) out.push({ kind, interval_days: n, ...base });
    } else if (kind === 'minimumSponsors') {
      const n = int(own(p, 'minimum'), 1, 10);
      if (n !== null) out.push({ kind, minimum: n, ...base });
    } else if (kind === 'inactivity') {
      const n = int(own(p, 'inactive_days'), 1, 3650);
      if (n !== null) out.push({ kind, inactive_days: n, ...base });
    } else continue;
    seen.add(kind);
  }
  // An explicitly empty list turns lifecycle policies off; a list of only invalid entries does not.
  return out.length === 0 && list.length > 0 ? DEFAULT_LIFECYCLE_POLICIES : out;
}

/** A stored RFC 3339 date as epoch seconds; null when absent or not a date. */
function epochAt(value: unknown): number | null {
  const ms = typeof value === 'string' ? parseRfc3339(value) : null;
  return ms === null ? null : Math.floor(ms / 1000);
}

/** The agent's sponsors as the policy counts them: non-empty strings, each once. */
export function sponsorsOf(agent: unknown): string[] {
  const list = own(agent, 'sponsors');
  return Array.isArray(list)
    ? [...new Set(list.filter((s): s is string => typeof s === 'string' && s !== ''))]
    : [];
}

function finding(p: LifecyclePolicy, due: number, now: number): LifecycleFinding | null {
  if (now < due) return null;
  const actionAt = due + p.grace_days * DAY;
  return {
    kind: p.kind,
    phase: now < actionAt ? 'grace' : 'action',
    due_epoch: due,
    action_epoch: actionAt,
    action: p.action,
    action_at: new Date(actionAt * 1000).toISOString().replace('.000Z', 'Z'),
    ...(p.action === 'disableThenDelete' && { delete_epoch: actionAt + p.grace_days * DAY }),
  };
}

/**
 * The policies `agent` fails at `now` (epoch seconds), in policy order. Dates the agent lacks (a
 * record written before lifecycle stamps, or by the Graph sync) start nothing, except for the
 * minimum-sponsors policy: an agent below it with no recorded drop is past its grace at once, and
 * one with no sponsor at all is left to agent_no_sponsor.
 */
export function lifecycleFindings(
  agent: unknown,
  policies: readonly LifecyclePolicy[],
  activity: unknown,
  now: number,
): LifecycleFinding[] {
  if (typeof agent !== 'object' || agent === null) return [];
  const created = epochAt(own(agent, 'created_at'));
  const out: LifecycleFinding[] = [];
  for (const p of policies) {
    let due: number | null = null;
    if (p.kind === 'minimumSponsors') {
      const count = sponsorsOf(agent).length;
      if (count >= p.minimum) continue;
      const dropped = epochAt(own(agent, 'sponsors_dropped_at'));
      if (dropped === null && count === 0) continue;
      due = dropped ?? 0;
    } else if (p.kind === 'sponsorReconfirmation') {
      const last = epochAt(own(agent, 'sponsors_confirmed_at')) ?? created;
      if (last !== null) due = last + p.interval_days * DAY;
    } else {
      const last = int(own(activity, 'last_token_epoch'), 0, Number.MAX_SAFE_INTEGER) ?? created;
      if (last !== null) due = last + p.inactive_days * DAY;
    }
    const f = due === null ? null : finding(p, due, now);
    if (f !== null) out.push(f);
  }
  return out;
}

/** The server's lifecycle stamps on an agent record being written (never taken from the client). */
export function stampAgent(
  next: Record<string, unknown>,
  old: unknown,
  nowIso: string,
): Record<string, unknown> {
  const before = old === null || old === undefined ? null : old;
  const created = own(before, 'created_at');
  const confirmed = own(before, 'sponsors_confirmed_at');
  const dropped = own(before, 'sponsors_dropped_at');
  const fell = before !== null && sponsorsOf(next).length < sponsorsOf(before).length;
  return {
    ...next,
    created_at: typeof created === 'string' ? created : nowIso,
    sponsors_confirmed_at: typeof confirmed === 'string' ? confirmed : nowIso,
    ...(fell
      ? { sponsors_dropped_at: nowIso }
      : typeof dropped === 'string' && { sponsors_dropped_at: dropped }),
  };
}
