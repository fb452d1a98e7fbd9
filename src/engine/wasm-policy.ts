import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { PdpError, describeThrown } from '../errors';

export const ENTRYPOINTS = ['agent/decide/result', 'agent/whatif/result'] as const;
export type Entrypoint = (typeof ENTRYPOINTS)[number] | 'agent/gateway/result';

/**
 * One opa-wasm instance with its data set. opa-wasm throws strings and plain objects; every
 * throw leaves here as a PdpError. Instances are never mutated after construction, so swapping
 * the engine's reference is the whole of an atomic reload.
 */
export class WasmPolicy {
  private readonly ids: ReadonlyMap<string, number>;

  private constructor(private readonly policy: LoadedPolicy) {
    this.ids = new Map(Object.entries(policy.entrypoints as Record<string, number>));
  }

  static async compile(wasm: Buffer): Promise<WebAssembly.Module> {
    try {
      return await WebAssembly.compile(wasm);
    } catch (err) {
      throw new PdpError('bundle_invalid', `policy.wasm does not compile: ${describeThrown(err)}`);
    }
  }

  /** `data` is passed pre-serialised: opa-wasm would stringify it anyway, and this keeps it off the heap twice. */
  static async instantiate(module: WebAssembly.Module, data: string): Promise<WasmPolicy> {
    try {
      const policy = await loadPolicy(module, { initial: 16 });
      const bytes = new TextEncoder().encode(data);
      policy.setData(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      return new WasmPolicy(policy);
    } catch (err) {
      throw new PdpError('bundle_invalid', `policy.wasm failed to load: ${describeThrown(err)}`);
    }
  }

  get entrypoints(): string[] {
    return [...this.ids.keys()].sort();
  }

  has(entrypoint: string): boolean {
    return this.ids.has(entrypoint);
  }

  /** Evaluates synchronously; returns the entrypoint's value, or undefined when the rule is undefined. */
  evaluate(entrypoint: Entrypoint, input: object): unknown {
    const id = this.ids.get(entrypoint);
    if (id === undefined) {
      throw new PdpError('policy_evaluation_failed', `bundle has no entrypoint ${entrypoint}`);
    }
    let resultSet: unknown;
    try {
      resultSet = this.policy.evaluate(input, id);
    } catch (err) {
      throw new PdpError('policy_evaluation_failed', `policy evaluation failed: ${describeThrown(err)}`);
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) return undefined;
    return (resultSet[0] as { result?: unknown }).result;
  }

  get memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }
}
