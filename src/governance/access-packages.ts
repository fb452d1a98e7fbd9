/**
 * Access packages and their assignments (Entra entitlement management, for agents). A package
 * names resources and scopes, how long an assignment may last, who may request one and who
 * approves it. An approved assignment writes an entitlement into the grants record decisions read
 * (src/governance/entitlements.ts); its expiry is a number in that record, compared with the
 * decision's `now`, so nothing needs to rewrite it on time.
 *
 * Every change goes through `store.write` with its governance-trail entry. Writes that touch a
 * grants record are serialised per tenant within the process (read, edit, write).
 */
import { PdpError } from '../errors';
import type { AuditContext, GovernanceChange } from './trail';
import {
  MAX_ACTIVE_ENTITLEMENTS,
  activeEntitlements,
  grantsKeyOf,
  withEntitlement,
  withPackagePermissions,
  withoutAssignment,
} from './entitlements';
import type {
  AccessPackageRecord,
  AgentRecord,
  AssignmentRecord,
  AssignmentTarget,
  Entitlement,
  RecordRef,
  SignalStore,
  WriteOp,
} from '../store/types';

export const PACKAGES_INDEX = 'access-packages';
export const ASSIGNMENTS_INDEX = 'assignments';
/** The assignments of one package: `package-assignments:<package id>`. */
export const packageAssignmentsIndex = (packageId: string): string => `package-assignments:${packageId}`;

export interface Actor {
  name: string;
  admin: boolean;
}

export interface AssignmentRequest {
  target: AssignmentTarget;
  duration_seconds: number;
  justification?: string;
}

/** What GET shows: the stored state, or `expired` once an active assignment is past its expiry. */
export type AssignmentView = Omit<AssignmentRecord, 'state'> & {
  state: AssignmentRecord['state'] | 'expired';
};

const epochOf = (ms: number): number => Math.floor(ms / 1000);
const iso = (ms: number): string => new Date(ms).toISOString();

function isActiveAt(a: AssignmentRecord, nowEpoch: number): boolean {
  return a.state === 'active' && typeof a.expires_at_epoch === 'number' && a.expires_at_epoch > nowEpoch;
}

export function viewOf(a: AssignmentRecord, nowMs: number): AssignmentView {
  return a.state === 'active' && !isActiveAt(a, epochOf(nowMs)) ? { ...a, state: 'expired' } : a;
}

/** The agents a change concerns: an agent-targeted assignment concerns its agent. */
function agentsOfTarget(target: AssignmentTarget): string[] {
  return 'agent_id' in target ? [target.agent_id] : [];
}

function invalid(pointer: string, message: string): PdpError {
  return new PdpError('invalid_request', 'The request body is invalid', [
    { pointer, message, keyword: 'value' },
  ]);
}

export class AccessPackages {
  /** Per-tenant tail of the writes that read and rewrite a grants record. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: SignalStore,
    private readonly clock: () => number,
    private readonly newId: () => string,
    /** Active entitlements one grants record may hold (tests lower it). */
    private readonly maxActive = MAX_ACTIVE_ENTITLEMENTS,
  ) {}

  // --- packages -------------------------------------------------------------------------------

  async putPackage(
    tenant: string,
    id: string,
    body: Omit<AccessPackageRecord, 'id' | 'updated_at'>,
    actor: Actor,
  ): Promise<AccessPackageRecord> {
    return this.serial(tenant, async () => {
      // Every assignment of the package and the grants records of their targets are read and
      // guarded with the package: Entra applies a package's changed resources to its assignments.
      const assignments = await this.assignmentsOf(tenant, id);
      const grantKeys = new Map<string, RecordRef>();
      for (const a of assignments) {
        const key = grantsKeyOf(a.target);
        grantKeys.set(`${key.kind}\n${key.id}`, key);
      }
      const reads: RecordRef[] = [
        { kind: 'access-package', id },
        ...assignments.map((a): RecordRef => ({ kind: 'assignment', id: a.id })),
        ...grantKeys.values(),
      ];
      return this.store.transact(tenant, reads, (values) => {
        const at = this.clock();
        const old = (values[0] ?? null) as AccessPackageRecord | null;
        const record: AccessPackageRecord = {
          id,
          display_name: body.display_name,
          resources: body.resources,
          max_duration_seconds: body.max_duration_seconds,
          requestors: body.requestors,
          approvers: body.approvers,
          justification_required: body.justification_required,
          updated_at: iso(at),
        };
        const current = values.slice(1, 1 + assignments.length) as (AssignmentRecord | null)[];
        const agents = new Set<string>();
        for (const a of current) {
          if (a !== null && isActiveAt(a, epochOf(at)))
            for (const agent of agentsOfTarget(a.target)) agents.add(agent);
        }
        const ops: WriteOp[] = [{ kind: 'access-package', id, value: record }];
        [...grantKeys.values()].forEach((key, i) => {
          const grants = values[1 + assignments.length + i];
          ops.push({ ...key, value: withPackagePermissions(grants, id, record.resources, epochOf(at)) });
        });
        return {
          ops,
          audit: this.audit(actor, at, {
            target: { type: 'access-package', id },
            action: old === null ? 'create' : 'update',
            agents: [...agents],
            before: old,
            after: record,
          }),
          result: record,
        };
      });
    }).then(async (record) => {
      await this.store.index(tenant, PACKAGES_INDEX, id, true);
      return record;
    });
  }

  async getPackage(tenant: string, id: string): Promise<AccessPackageRecord> {
    const record = await this.store.get('access-package', tenant, id);
    if (record === null) throw new PdpError('not_found', `No access package ${id} in tenant ${tenant}`);
    return record;
  }

  async listPackages(tenant: string): Promise<AccessPackageRecord[]> {
    const ids = (await this.store.members(tenant, PACKAGES_INDEX)).sort();
    const records = await Promise.all(ids.map((id) => this.store.get('access-package', tenant, id)));
    return records.filter((r): r is AccessPackageRecord => r !== null);
  }

  /** Refused while an assignment is pending or active (Entra: remove assignments first). */
  async deletePackage(tenant: string, id: string, actor: Actor): Promise<void> {
    await this.serial(tenant, async () => {
      const old = await this.getPackage(tenant, id);
      const at = this.clock();
      const live = (await this.assignmentsOf(tenant, id)).filter(
        (a) => a.state === 'requested' || isActiveAt(a, epochOf(at)),
      );
      if (live.length > 0) {
        throw new PdpError(
          'package_in_use',
          `Access package ${id} has ${live.length} pending or active assignment(s); revoke or deny them first`,
        );
      }
      await this.store.write(
        tenant,
        [{ kind: 'access-package', id, value: null }],
        this.audit(actor, at, {
          target: { type: 'access-package', id },
          action: 'delete',
          agents: [],
          before: old,
          after: null,
        }),
      );
      await this.store.index(tenant, PACKAGES_INDEX, id, false);
    });
  }

  // --- assignments ----------------------------------------------------------------------------

  async request(
    tenant: string,
    packageId: string,
    body: AssignmentRequest,
    actor: Actor,
  ): Promise<AssignmentView> {
    const pkg = await this.getPackage(tenant, packageId);
    const agent = await this.targetAgent(tenant, body.target);
    if (!mayRequest(pkg, body.target, agent, actor)) {
      throw new PdpError(
        'requestor_not_permitted',
        `Caller ${actor.name} may not request access package ${packageId} for this target`,
      );
    }
    if (body.duration_seconds > pkg.max_duration_seconds) {
      throw invalid('/duration_seconds', `must be at most the package maximum, ${pkg.max_duration_seconds}`);
    }
    const justification = body.justification?.trim() ?? '';
    if (pkg.justification_required && justification === '') {
      throw invalid('/justification', 'is required by this access package');
    }
    const at = this.clock();
    const id = this.newId();
    const requested: AssignmentRecord = {
      id,
      package_id: packageId,
      target: body.target,
      state: 'requested',
      duration_seconds: body.duration_seconds,
      ...(justification !== '' && { justification }),
      requested_by: actor.name,
      requested_at: iso(at),
    };
    const change: GovernanceChange = {
      target: { type: 'assignment', id },
      action: 'request',
      agents: agentsOfTarget(body.target),
      before: null,
      after: requested,
      ...(justification !== '' && { reason: justification }),
    };
    let stored = requested;
    if (pkg.approvers.sponsors || pkg.approvers.users.length > 0) {
      await this.store.write(
        tenant,
        [{ kind: 'assignment', id, value: requested }],
        this.audit(actor, at, change),
      );
    } else {
      // No approver: the request is granted as it is made.
      stored = await this.serial(tenant, () => this.activate(tenant, requested, null, actor, change));
    }
    await this.store.index(tenant, ASSIGNMENTS_INDEX, id, true);
    await this.store.index(tenant, packageAssignmentsIndex(packageId), id, true);
    return viewOf(stored, at);
  }

  async approve(tenant: string, id: string, actor: Actor, reason?: string): Promise<AssignmentView> {
    return this.serial(tenant, async () => {
      const { assignment } = await this.decidable(tenant, id, actor);
      const active = await this.activate(tenant, assignment, 'requested', actor, {
        target: { type: 'assignment', id },
        action: 'approve',
        agents: agentsOfTarget(assignment.target),
        before: assignment,
        after: null,
        ...(reason !== undefined && { reason }),
      });
      return viewOf(active, this.clock());
    });
  }

  async deny(tenant: string, id: string, actor: Actor, reason?: string): Promise<AssignmentView> {
    await this.decidable(tenant, id, actor);
    return this.store.transact(tenant, [{ kind: 'assignment', id }], (values) => {
      const assignment = values[0] as AssignmentRecord | null;
      const at = this.clock();
      if (assignment?.state !== 'requested') throw stateConflict(id, assignment, at, 'denied');
      const denied: AssignmentRecord = {
        ...assignment,
        state: 'denied',
        decided_by: actor.name,
        decided_at: iso(at),
      };
      return {
        ops: [{ kind: 'assignment', id, value: denied }],
        audit: this.audit(actor, at, {
          target: { type: 'assignment', id },
          action: 'deny',
          agents: agentsOfTarget(assignment.target),
          before: assignment,
          after: denied,
          ...(reason !== undefined && { reason }),
        }),
        result: viewOf(denied, at),
      };
    });
  }

  /** Admins and the package's approvers end an active assignment; the next decision no longer sees it. */
  async revoke(tenant: string, id: string, actor: Actor, reason?: string): Promise<AssignmentView> {
    return this.serial(tenant, async () => {
      const found = await this.getAssignmentRecord(tenant, id);
      const pkg = await this.store.get('access-package', tenant, found.package_id);
      const agent = await this.targetAgent(tenant, found.target, false);
      if (!actor.admin && (pkg === null || !mayApprove(pkg, agent, actor))) {
        throw new PdpError('approver_not_permitted', `Caller ${actor.name} may not revoke assignment ${id}`);
      }
      const key = grantsKeyOf(found.target);
      return this.store.transact(tenant, [{ kind: 'assignment', id }, key], (values) => {
        const assignment = values[0] as AssignmentRecord | null;
        const at = this.clock();
        if (assignment === null || !isActiveAt(assignment, epochOf(at)))
          throw stateConflict(id, assignment, at, 'revoked');
        const revoked: AssignmentRecord = {
          ...assignment,
          state: 'revoked',
          revoked_by: actor.name,
          revoked_at: iso(at),
        };
        return {
          ops: [
            { kind: 'assignment', id, value: revoked },
            { ...key, value: withoutAssignment(values[1], id, epochOf(at)) },
          ],
          audit: this.audit(actor, at, {
            target: { type: 'assignment', id },
            action: 'revoke',
            agents: agentsOfTarget(assignment.target),
            before: assignment,
            after: revoked,
            ...(reason !== undefined && { reason }),
          }),
          result: viewOf(revoked, at),
        };
      });
    });
  }

  async getAssignment(tenant: string, id: string): Promise<AssignmentView> {
    return viewOf(await this.getAssignmentRecord(tenant, id), this.clock());
  }

  async listAssignments(tenant: string, packageId?: string): Promise<AssignmentView[]> {
    const index = packageId === undefined ? ASSIGNMENTS_INDEX : packageAssignmentsIndex(packageId);
    const ids = (await this.store.members(tenant, index)).sort();
    const records = await Promise.all(ids.map((id) => this.store.get('assignment', tenant, id)));
    const now = this.clock();
    return records.filter((r): r is AssignmentRecord => r !== null).map((r) => viewOf(r, now));
  }

  // --- internals ------------------------------------------------------------------------------

  /**
   * Writes the assignment active and its entitlement into the target's grants record, with
   * `change`; the assignment (in state `expected`, or absent when null), the package and the grants
   * record are guarded, so a concurrent decision, package change or revocation is never lost.
   */
  private async activate(
    tenant: string,
    assignment: AssignmentRecord,
    expected: AssignmentRecord['state'] | null,
    actor: Actor,
    change: GovernanceChange,
  ): Promise<AssignmentRecord> {
    const key = grantsKeyOf(assignment.target);
    const reads: RecordRef[] = [
      { kind: 'assignment', id: assignment.id },
      { kind: 'access-package', id: assignment.package_id },
      key,
    ];
    return this.store.transact(tenant, reads, (values) => {
      const at = this.clock();
      const current = (values[0] ?? null) as AssignmentRecord | null;
      if (expected === null ? current !== null : current?.state !== expected)
        throw stateConflict(assignment.id, current, at, 'active');
      const pkg = (values[1] ?? null) as AccessPackageRecord | null;
      if (pkg === null)
        throw new PdpError('not_found', `No access package ${assignment.package_id} in tenant ${tenant}`);
      const grants = values[2];
      if (activeEntitlements(grants, epochOf(at)).length >= this.maxActive) {
        throw new PdpError(
          'shared_assignments_limit',
          `The target already holds ${this.maxActive} active assignments; revoke one first`,
        );
      }
      const expiresEpoch = epochOf(at) + assignment.duration_seconds;
      const expiresAt = iso(expiresEpoch * 1000);
      const active: AssignmentRecord = {
        ...assignment,
        state: 'active',
        ...(change.action === 'approve' && { decided_by: actor.name, decided_at: iso(at) }),
        expires_at: expiresAt,
        expires_at_epoch: expiresEpoch,
      };
      const entitlement: Entitlement = {
        assignment_id: assignment.id,
        package_id: pkg.id,
        permissions: pkg.resources,
        expires_at: expiresAt,
        expires_at_epoch: expiresEpoch,
        ...('agent_id' in assignment.target ? {} : { target: assignment.target }),
      };
      return {
        ops: [
          { kind: 'assignment', id: assignment.id, value: active },
          { ...key, value: withEntitlement(grants, entitlement, epochOf(at)) },
        ],
        audit: this.audit(actor, at, { ...change, after: active }),
        result: active,
      };
    });
  }

  /** A pending assignment, its package, and the caller checked to be one of its approvers. */
  private async decidable(
    tenant: string,
    id: string,
    actor: Actor,
  ): Promise<{ assignment: AssignmentRecord; pkg: AccessPackageRecord }> {
    const assignment = await this.getAssignmentRecord(tenant, id);
    if (assignment.state !== 'requested') throw stateConflict(id, assignment, this.clock(), 'decided');
    if (assignment.requested_by === actor.name) {
      throw new PdpError(
        'self_approval_forbidden',
        `Caller ${actor.name} requested assignment ${id} and may not decide it`,
      );
    }
    const pkg = await this.store.get('access-package', tenant, assignment.package_id);
    const agent = await this.targetAgent(tenant, assignment.target, false);
    if (pkg === null || !mayApprove(pkg, agent, actor)) {
      throw new PdpError(
        'approver_not_permitted',
        `Caller ${actor.name} is not an approver of assignment ${id}`,
      );
    }
    return { assignment, pkg };
  }

  private async getAssignmentRecord(tenant: string, id: string): Promise<AssignmentRecord> {
    const record = await this.store.get('assignment', tenant, id);
    if (record === null) throw new PdpError('not_found', `No assignment ${id} in tenant ${tenant}`);
    return record;
  }

  /** The target agent's record (null for blueprint and all-agents targets); a missing target is 404 when `required`. */
  private async targetAgent(
    tenant: string,
    target: AssignmentTarget,
    required = true,
  ): Promise<AgentRecord | null> {
    if ('agent_id' in target) {
      const agent = await this.store.get('agent', tenant, target.agent_id);
      if (agent === null && required)
        throw new PdpError('not_found', `No agent ${target.agent_id} in tenant ${tenant}`);
      return agent;
    }
    if (
      'blueprint_id' in target &&
      required &&
      (await this.store.get('blueprint', tenant, target.blueprint_id)) === null
    ) {
      throw new PdpError('not_found', `No blueprint ${target.blueprint_id} in tenant ${tenant}`);
    }
    return null;
  }

  private async assignmentsOf(tenant: string, packageId: string): Promise<AssignmentRecord[]> {
    const ids = await this.store.members(tenant, packageAssignmentsIndex(packageId));
    const records = await Promise.all(ids.map((id) => this.store.get('assignment', tenant, id)));
    return records.filter((r): r is AssignmentRecord => r !== null);
  }

  private audit(actor: Actor, at: number, change: GovernanceChange): AuditContext {
    return { actor: actor.name, at, changes: [change] };
  }

  /** Runs `task` after the tenant's previous grants write has settled (success or not). */
  private serial<T>(tenant: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(tenant) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.tails.set(tenant, tail);
    void tail.then(() => {
      if (this.tails.get(tenant) === tail) this.tails.delete(tenant);
    });
    return run;
  }
}

/** 409: the assignment is not in the state the step needs. */
function stateConflict(id: string, current: AssignmentRecord | null, nowMs: number, step: string): PdpError {
  const state = current === null ? 'absent' : viewOf(current, nowMs).state;
  return new PdpError('assignment_state_conflict', `Assignment ${id} is ${state}; it cannot be ${step}`);
}

/** The package's requestors: a sponsor of the target agent, the agent itself, an admin. */
export function mayRequest(
  pkg: AccessPackageRecord,
  target: AssignmentTarget,
  agent: AgentRecord | null,
  actor: Actor,
): boolean {
  if (pkg.requestors.includes('admin') && actor.admin) return true;
  if (!('agent_id' in target) || agent === null) return false;
  if (pkg.requestors.includes('agent') && actor.name === target.agent_id) return true;
  return pkg.requestors.includes('sponsor') && isSponsor(agent, actor.name);
}

/** The package's approvers: a sponsor of the target agent (when `approvers.sponsors`) or a listed user. */
export function mayApprove(pkg: AccessPackageRecord, agent: AgentRecord | null, actor: Actor): boolean {
  if (pkg.approvers.users.includes(actor.name)) return true;
  return pkg.approvers.sponsors && agent !== null && isSponsor(agent, actor.name);
}

function isSponsor(agent: AgentRecord, name: string): boolean {
  return Array.isArray(agent.sponsors) && agent.sponsors.includes(name);
}
