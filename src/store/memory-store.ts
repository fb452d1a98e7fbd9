import { recordKey } from './keys';
import { serialise } from './serialise';
import { assemble, planQuery } from './snapshot';
import type { RecordKind, RecordOf, SignalSnapshot, SignalStore, SignalsQuery, StoreHealth } from './types';

/**
 * In-process store for the embedded default and tests. Values are kept serialised so a caller
 * can never mutate what another decision reads, the same guarantee Redis gives.
 */
export class MemoryStore implements SignalStore {
  readonly kind = 'memory' as const;
  private readonly values = new Map<string, string>();

  readSignals(q: SignalsQuery): Promise<SignalSnapshot> {
    const plan = planQuery(q);
    const values = plan.kinds.map((kind, i) => this.read(recordKey(q.tenant, kind, plan.ids[i] ?? '')));
    const agent = values[0] as RecordOf['agent'] | null;
    let blueprint: RecordOf['blueprint'] | null = null;
    if (agent !== null) {
      blueprint =
        plan.blueprintIndex >= 0 && q.blueprintHint === agent.blueprint_id
          ? (values[plan.blueprintIndex] as RecordOf['blueprint'] | null)
          : (this.read(recordKey(q.tenant, 'blueprint', agent.blueprint_id)) as RecordOf['blueprint'] | null);
    }
    return Promise.resolve(assemble(plan, values, blueprint, false));
  }

  get<K extends RecordKind>(kind: K, tenant: string, id: string): Promise<RecordOf[K] | null> {
    return Promise.resolve(this.read(recordKey(tenant, kind, id)) as RecordOf[K] | null);
  }

  put<K extends RecordKind>(kind: K, tenant: string, id: string, value: RecordOf[K]): Promise<void> {
    this.values.set(recordKey(tenant, kind, id), serialise(value));
    return Promise.resolve();
  }

  delete(kind: RecordKind, tenant: string, id: string): Promise<boolean> {
    return Promise.resolve(this.values.delete(recordKey(tenant, kind, id)));
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
