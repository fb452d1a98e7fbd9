import type { Entitlement } from './types';
import { blueprintIdOf } from './values';

/** A stored grants record's entitlements; anything not written by the API reads as none. */
export function entitlementsOf(record: unknown): unknown[] {
  if (typeof record !== 'object' || record === null || !Object.hasOwn(record, 'entitlements')) return [];
  const list = (record as { entitlements: unknown }).entitlements;
  return Array.isArray(list) ? (list as unknown[]) : [];
}

function ownValue(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** Whether a shared entitlement's target covers an agent of `blueprintId` (null: unknown agent). */
function targets(entitlement: unknown, blueprintId: string | null): boolean {
  const target = ownValue(entitlement, 'target');
  if (ownValue(target, 'all_agents') === true) return true;
  const blueprint = ownValue(target, 'blueprint_id');
  return blueprintId !== null && typeof blueprint === 'string' && blueprint === blueprintId;
}

/**
 * The entitlements a decision of `agent` sees: its own, and the tenant's shared ones that target
 * its blueprint or all agents. Expired ones are kept (the policy compares with `now`, so expiry
 * is exact to the second without anyone rewriting the record); the policy checks their shape.
 */
export function grantsOf(agentGrants: unknown, sharedGrants: unknown, agent: unknown): Entitlement[] {
  const own = entitlementsOf(agentGrants).filter((e) => typeof e === 'object' && e !== null);
  const blueprintId = blueprintIdOf(agent);
  const shared = entitlementsOf(sharedGrants).filter((e) => targets(e, blueprintId));
  return [...own, ...shared] as Entitlement[];
}
