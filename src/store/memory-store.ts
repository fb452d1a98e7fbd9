import { AGENTS_INDEX, indexKey, recordKey } from './keys';
import { serialise } from './serialise';
import { assemble, planQuery } from './snapshot';
import type {
  RecordKind,
  RecordOf,
  SignalSnapshot,
  SignalStore,
  SignalsQuery,
  StoreHealth,
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

  write(tenant: string, ops: readonly WriteOp[]): Promise<void> {
    const values = ops.map((op) => (op.value === null ? null : serialise(op.value)));
    ops.forEach((op, i) => {
      const key = recordKey(tenant, op.kind, op.id);
      const value = values[i];
      if (value === null || value === undefined) this.values.delete(key);
      else this.values.set(key, value);
      if (op.kind === 'agent') this.mark(tenant, AGENTS_INDEX, op.id, op.value !== null);
    });
    return Promise.resolve();
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
