/**
 * The grants records decisions read (`grants:agent`, `grants:shared`): pure edits, each dropping
 * the entries already expired so a record never grows past its active assignments.
 */
import { entitlementsOf } from '../store/grants';
import { SHARED_GRANTS_ID } from '../store/snapshot';
import type { AssignmentTarget, Entitlement, GrantsRecord, WriteOp } from '../store/types';

/** Active entitlements one grants record may hold: it is read by every decision of its agents. */
export const MAX_ACTIVE_ENTITLEMENTS = 1000;

/** The grants record a target's entitlements live in. */
export function grantsKeyOf(target: AssignmentTarget): Pick<WriteOp, 'kind' | 'id'> {
  return 'agent_id' in target
    ? { kind: 'grants:agent', id: target.agent_id }
    : { kind: 'grants:shared', id: SHARED_GRANTS_ID };
}

function isActive(e: unknown, nowEpoch: number): e is Entitlement {
  if (typeof e !== 'object' || e === null || !Object.hasOwn(e, 'expires_at_epoch')) return false;
  const exp = (e as { expires_at_epoch: unknown }).expires_at_epoch;
  return typeof exp === 'number' && exp > nowEpoch;
}

/** The record's entitlements still active at `nowEpoch`. */
export function activeEntitlements(record: unknown, nowEpoch: number): Entitlement[] {
  return entitlementsOf(record).filter((e) => isActive(e, nowEpoch));
}

/** The record's value after `edit` of its active entries: null (delete the key) when none is left. */
function rewritten(entitlements: Entitlement[]): GrantsRecord | null {
  return entitlements.length === 0 ? null : { entitlements };
}

export function withEntitlement(
  record: unknown,
  entitlement: Entitlement,
  nowEpoch: number,
): GrantsRecord | null {
  return rewritten([...activeEntitlements(record, nowEpoch), entitlement]);
}

export function withoutAssignment(
  record: unknown,
  assignmentId: string,
  nowEpoch: number,
): GrantsRecord | null {
  return rewritten(activeEntitlements(record, nowEpoch).filter((e) => e.assignment_id !== assignmentId));
}

/** Active entitlements of a package's assignments given the package's new resources. */
export function withPackagePermissions(
  record: unknown,
  packageId: string,
  permissions: Record<string, string[]>,
  nowEpoch: number,
): GrantsRecord | null {
  return rewritten(
    activeEntitlements(record, nowEpoch).map((e) => (e.package_id === packageId ? { ...e, permissions } : e)),
  );
}
