import type { RecordKind, RecordOf, SignalSnapshot, SignalsQuery } from './types';

/** The keys one decision reads, in a fixed order; the optional ones are appended when present. */
export interface QueryPlan {
  kinds: RecordKind[];
  ids: string[];
  userIndex: number;
  blueprintIndex: number;
}

export function planQuery(q: SignalsQuery): QueryPlan {
  const kinds: RecordKind[] = ['agent', 'risk:agent', 'revoked:agent'];
  const ids = [q.agentId, q.agentId, q.agentId];
  let userIndex = -1;
  let blueprintIndex = -1;
  if (q.userId !== undefined) {
    userIndex = kinds.push('risk:user') - 1;
    ids.push(q.userId);
  }
  if (q.blueprintHint !== undefined) {
    blueprintIndex = kinds.push('blueprint') - 1;
    ids.push(q.blueprintHint);
  }
  return { kinds, ids, userIndex, blueprintIndex };
}

/** Assembles a snapshot from values read in plan order, with the agent's blueprint resolved. */
export function assemble(
  plan: QueryPlan,
  values: readonly unknown[],
  blueprint: RecordOf['blueprint'] | null,
  degraded: boolean,
): SignalSnapshot {
  return {
    agent: (values[0] ?? null) as RecordOf['agent'] | null,
    agentRisk: (values[1] ?? null) as RecordOf['risk:agent'] | null,
    revocation: (values[2] ?? null) as RecordOf['revoked:agent'] | null,
    userRisk: (plan.userIndex >= 0 ? (values[plan.userIndex] ?? null) : null) as RecordOf['risk:user'] | null,
    blueprint,
    degraded,
    unavailable: false,
  };
}

export const UNAVAILABLE: Readonly<SignalSnapshot> = Object.freeze({
  agent: null,
  blueprint: null,
  agentRisk: null,
  userRisk: null,
  revocation: null,
  degraded: false,
  unavailable: true,
});
