import { grantsOf } from './grants';
import type { RecordKind, RecordOf, ResourceAgent, SignalSnapshot, SignalsQuery } from './types';

/** The keys one decision reads, in a fixed order; the optional ones are appended when present. */
export interface QueryPlan {
  kinds: RecordKind[];
  ids: string[];
  userIndex: number;
  blueprintIndex: number;
  agentUserIndex: number;
  agentUserRiskIndex: number;
  /** resource, resource-uri, agent, blueprint, blueprint-principal keyed by request.resource; -1 without one. */
  resourceIndex: number;
  /** grants:agent and grants:shared, always read (a fixed id: no derived read). */
  grantsIndex: number;
  /** lifecycle (the tenant's policies) and activity:agent, always read. */
  lifecycleIndex: number;
}

export const RESOURCE_KINDS: readonly RecordKind[] = [
  'resource',
  'resource-uri',
  'agent',
  'blueprint',
  'blueprint-principal',
];

/** The id of a tenant's one `lifecycle` record. */
export const LIFECYCLE_ID = 'policies';

/** The id of a tenant's one `grants:shared` record. */
export const SHARED_GRANTS_ID = 'shared';

export function planQuery(q: SignalsQuery): QueryPlan {
  const kinds: RecordKind[] = ['agent', 'risk:agent', 'revoked:agent'];
  const ids = [q.agentId, q.agentId, q.agentId];
  const add = (kind: RecordKind, id: string): number => {
    ids.push(id);
    return kinds.push(kind) - 1;
  };
  const userIndex = q.userId !== undefined ? add('risk:user', q.userId) : -1;
  const blueprintIndex = q.blueprintHint !== undefined ? add('blueprint', q.blueprintHint) : -1;
  let agentUserIndex = -1;
  let agentUserRiskIndex = -1;
  if (q.agentUser === true && q.userId !== undefined) {
    agentUserIndex = add('agent-user', q.userId);
    agentUserRiskIndex = add('risk:agent-user', q.userId);
  }
  const grantsIndex = add('grants:agent', q.agentId);
  add('grants:shared', SHARED_GRANTS_ID);
  const lifecycleIndex = add('lifecycle', LIFECYCLE_ID);
  add('activity:agent', q.agentId);
  let resourceIndex = -1;
  if (q.resource !== undefined) {
    resourceIndex = kinds.length;
    for (const kind of RESOURCE_KINDS) add(kind, q.resource);
  }
  return {
    kinds,
    ids,
    userIndex,
    blueprintIndex,
    agentUserIndex,
    agentUserRiskIndex,
    resourceIndex,
    grantsIndex,
    lifecycleIndex,
  };
}

/** The keys a read resolves through the agent record: its blueprint and the blueprint's risk. */
export const DERIVED_KINDS = ['blueprint', 'risk:blueprint'] as const;

function at(values: readonly unknown[], index: number): unknown {
  return index >= 0 ? (values[index] ?? null) : null;
}

/** An object's own string `id`, or null (a stored value is not trusted to have one). */
function linkId(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, 'id')) return null;
  const id = (value as { id: unknown }).id;
  return typeof id === 'string' ? id : null;
}

/**
 * Assembles a snapshot from values read in plan order, with the agent's blueprint and its risk
 * resolved. `resourceRecordByUri` is the record the identifier-URI link names, when the caller read it
 * (the link stores a copy of the record, so no second read is needed).
 */
export function assemble(
  plan: QueryPlan,
  values: readonly unknown[],
  blueprint: RecordOf['blueprint'] | null,
  blueprintRisk: RecordOf['risk:blueprint'] | null,
  degraded: boolean,
): SignalSnapshot {
  let resource: RecordOf['resource'] | null = null;
  let resourceAgent: ResourceAgent | null = null;
  if (plan.resourceIndex >= 0) {
    const [byId, byUri, asAgent, asBlueprint, asPrincipal] = RESOURCE_KINDS.map((_, i) =>
      at(values, plan.resourceIndex + i),
    );
    // The URI link holds a copy of the resource record (written with it), so one read finds it.
    resource = (byId ?? byUri ?? null) as RecordOf['resource'] | null;
    const resourceId = plan.ids[plan.resourceIndex] ?? '';
    if (asAgent !== null) resourceAgent = { kind: 'agent', id: resourceId };
    else if (asBlueprint !== null) resourceAgent = { kind: 'blueprint', id: resourceId };
    else {
      const principalOf = linkId(asPrincipal);
      if (principalOf !== null) resourceAgent = { kind: 'blueprint', id: principalOf };
    }
  }
  return {
    agent: (values[0] ?? null) as RecordOf['agent'] | null,
    agentRisk: (values[1] ?? null) as RecordOf['risk:agent'] | null,
    revocation: (values[2] ?? null) as RecordOf['revoked:agent'] | null,
    grants: grantsOf(at(values, plan.grantsIndex), at(values, plan.grantsIndex + 1), values[0] ?? null),
    lifecycle: at(values, plan.lifecycleIndex),
    activity: at(values, plan.lifecycleIndex + 1),
    userRisk: at(values, plan.userIndex) as RecordOf['risk:user'] | null,
    agentUser: at(values, plan.agentUserIndex) as RecordOf['agent-user'] | null,
    agentUserRisk: at(values, plan.agentUserRiskIndex) as RecordOf['risk:agent-user'] | null,
    resource,
    resourceAgent,
    blueprint,
    blueprintRisk,
    degraded,
    unavailable: false,
  };
}

export const UNAVAILABLE: Readonly<SignalSnapshot> = Object.freeze({
  agent: null,
  lifecycle: null,
  activity: null,
  blueprint: null,
  agentRisk: null,
  blueprintRisk: null,
  agentUser: null,
  agentUserRisk: null,
  resource: null,
  resourceAgent: null,
  userRisk: null,
  revocation: null,
  grants: [],
  degraded: false,
  unavailable: true,
});
