import {
  TRAIL_MAX_EVENTS,
  eventsOf,
  type AuditContext,
  type GovernanceEvent,
  type TrailQuery,
} from '../governance/trail';
import { AGENTS_INDEX, agentTrailKey, indexKey, recordKey, trailKey } from './keys';
import { serialise } from './serialise';
import { assemble, planQuery } from './snapshot';
import type {
  RecordKind,
  RecordOf,
  SignalSnapshot,
  SignalStore,
  SignalsQuery,
  StoreHealth,
  RecordRef,
  Transaction,
  WriteOp,
} from './types';
import { blueprintIdOf } from './values';

/**
 * In-process store for the embedded default and tests. Values are kept serialised so a caller
 * can never mutate what another decision reads, the same guarantee Redis gives.
 */
export class MemoryStore implements SignalStore {
  readonly kind = 'memory' as const;
  private readonly values = new Map<string, string>();
  private readonly sets = new Map<string, Set<string>>();
  /** Trail streams: serialised events, oldest first; `seq` numbers them like stream ids. */
  private readonly streams = new Map<string, { id: string; json: string }[]>();
  private seq = 0;

  readSignals(q: SignalsQuery): Promise<SignalSnapshot> {
    const plan = planQuery(q);
    const values = plan.kinds.map((kind, i) => this.read(recordKey(q.tenant, kind, plan.ids[i] ?? '')));
    const blueprintId = blueprintIdOf(values[0]);
    let blueprint: RecordOf['blueprint'] | null = null;
    let blueprintRisk: RecordOf['risk:blueprint'] | null = null;
    if (blueprintId !== null) {
      blueprint = this.read(recordKey(q.tenant, 'blueprint', blueprintId)) as RecordOf['blueprint'] | null;
      blueprintRisk = this.read(recordKey(q.tenant, 'risk:blueprint', blueprintId)) as
        RecordOf['risk:blueprint'] | null;
    }
    return Promise.resolve(assemble(plan, values, blueprint, blueprintRisk, false));
  }

  get<K extends RecordKind>(kind: K, tenant: string, id: string): Promise<RecordOf[K] | null> {
    return Promise.resolve(this.read(recordKey(tenant, kind, id)) as RecordOf[K] | null);
  }

  put<K extends RecordKind>(kind: K, tenant: string, id: string, value: RecordOf[K]): Promise<void> {
    this.values.set(recordKey(tenant, kind, id), serialise(value));
    if (kind === 'agent') this.mark(tenant, AGENTS_INDEX, id, true);
    return Promise.resolve();
  }

  delete(kind: RecordKind, tenant: string, id: string): Promise<boolean> {
    if (kind === 'agent') this.mark(tenant, AGENTS_INDEX, id, false);
    return Promise.resolve(this.values.delete(recordKey(tenant, kind, id)));
  }

  write(tenant: string, ops: readonly WriteOp[], audit?: AuditContext): Promise<void> {
    const values = ops.map((op) => (op.value === null ? null : serialise(op.value)));
    const events = audit === undefined ? [] : eventsOf(tenant, audit).map((e) => ({ e, json: serialise(e) }));
    ops.forEach((op, i) => {
      const key = recordKey(tenant, op.kind, op.id);
      const value = values[i];
      if (value === null || value === undefined) this.values.delete(key);
      else this.values.set(key, value);
      if (op.kind === 'agent') this.mark(tenant, AGENTS_INDEX, op.id, op.value !== null);
    });
    for (const { e, json } of events) {
      const id = `${audit?.at ?? 0}-${++this.seq}`;
      this.append(trailKey(tenant), id, json);
      for (const agent of new Set(e.agents)) this.append(agentTrailKey(tenant, agent), id, json);
    }
    return Promise.resolve();
  }

  /** Atomic as it is: reading, building and writing happen in one turn of the event loop. */
  transact<T>(
    tenant: string,
    reads: readonly RecordRef[],
    build: (values: unknown[]) => Transaction<T>,
  ): Promise<T> {
    try {
      const tx = build(reads.map((r) => this.read(recordKey(tenant, r.kind, r.id))));
      void this.write(tenant, tx.ops, tx.audit);
      return Promise.resolve(tx.result);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  trail(tenant: string, query: TrailQuery): Promise<GovernanceEvent[]> {
    const key = query.agentId === undefined ? trailKey(tenant) : agentTrailKey(tenant, query.agentId);
    const stream = this.streams.get(key) ?? [];
    const out: GovernanceEvent[] = [];
    for (let i = stream.length - 1; i >= 0 && out.length < query.limit; i--) {
      const entry = stream[i];
      if (entry === undefined) continue;
      if (query.before !== undefined && !olderId(entry.id, query.before)) continue;
      out.push({ ...(JSON.parse(entry.json) as Omit<GovernanceEvent, 'id'>), id: entry.id });
    }
    return Promise.resolve(out);
  }

  private append(key: string, id: string, json: string): void {
    const stream = this.streams.get(key) ?? [];
    stream.push({ id, json });
    if (stream.length > TRAIL_MAX_EVENTS) stream.splice(0, stream.length - TRAIL_MAX_EVENTS);
    this.streams.set(key, stream);
  }

  members(tenant: string, index: string): Promise<string[]> {
    return Promise.resolve([...(this.sets.get(indexKey(tenant, index)) ?? [])]);
  }

  index(tenant: string, index: string, member: string, present: boolean): Promise<void> {
    this.mark(tenant, index, member, present);
    return Promise.resolve();
  }

  private mark(tenant: string, index: string, member: string, present: boolean): void {
    const key = indexKey(tenant, index);
    const set = this.sets.get(key) ?? new Set<string>();
    if (present) set.add(member);
    else set.delete(member);
    this.sets.set(key, set);
  }

  health(): Promise<StoreHealth> {
    return Promise.resolve({ reachable: true, kind: this.kind });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private read(key: string): unknown {
    const raw = this.values.get(key);
    return raw === undefined ? null : (JSON.parse(raw) as unknown);
  }
}

/** Stream-id order (`<ms>-<seq>`): true when `id` is older than `than`. */
export function olderId(id: string, than: string): boolean {
  const [ms, seq] = id.split('-').map(Number);
  const [thanMs, thanSeq] = than.split('-').map(Number);
  if (ms === undefined || seq === undefined || thanMs === undefined || thanSeq === undefined) return false;
  return ms < thanMs || (ms === thanMs && seq < thanSeq);
}
