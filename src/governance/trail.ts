/**
 * The governance audit trail: every change to who an agent is and what it may do (directory
 * records, access packages and assignments, lifecycle policies and actions, risk), with its actor,
 * its before and after, and its time. Separate from decision logs: a decision is not a change.
 *
 * A change is appended in the same store transaction as the write it describes (SignalStore.write's
 * `audit`), so the trail never holds a change that did not happen nor misses one that did.
 */

/** One change as its writer describes it. */
export interface GovernanceChange {
  /** What changed: a record kind ('agent', 'blueprint', 'risk:agent', …) or 'access-package', 'assignment', 'lifecycle-policy', … */
  target: { type: string; id: string };
  /** The verb: 'create', 'update', 'delete', 'request', 'approve', 'deny', 'revoke', 'disable', 'detect', 'confirmSafe', … */
  action: string;
  /** The agents the change concerns: the per-agent query finds it under each of them. */
  agents: readonly string[];
  /** The value before (null: none) and after (null: deleted). */
  before: unknown;
  after: unknown;
  /** Why, when the change carries a reason (a justification, a lifecycle policy, a detection). */
  reason?: string;
}

/** Who made a set of changes, and when. */
export interface AuditContext {
  /** The authenticated caller's name, or `system:<component>` for the PDP's own workers. */
  actor: string;
  /** Epoch milliseconds. */
  at: number;
  changes: readonly GovernanceChange[];
}

/** One change as stored and served. */
export interface GovernanceEvent extends GovernanceChange {
  /** Orders the trail: the store's own sequence (a Redis stream id), newest last. */
  id: string;
  tenant: string;
  actor: string;
  /** RFC 3339, milliseconds. */
  at: string;
}

export interface TrailQuery {
  /** Only changes concerning this agent. */
  agentId?: string | undefined;
  /** Newest first, at most this many. */
  limit: number;
  /** Only events older than this id (the page cursor: the last id of the previous page). */
  before?: string | undefined;
}

/** Events kept per tenant (and per agent): older ones are trimmed. */
export const TRAIL_MAX_EVENTS = 100_000;

/** The stored events of one audit context, in order. */
export function eventsOf(tenant: string, audit: AuditContext): Omit<GovernanceEvent, 'id'>[] {
  const at = new Date(audit.at).toISOString();
  return audit.changes.map((c) => ({
    tenant,
    actor: audit.actor,
    at,
    target: c.target,
    action: c.action,
    agents: [...c.agents],
    before: c.before,
    after: c.after,
    ...(c.reason !== undefined && { reason: c.reason }),
  }));
}
