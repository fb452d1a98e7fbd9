import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { PdpError, describeThrown } from '../errors';
import { DEFAULT_MEMO_LIMITS, EvaluationMemo, type MemoLimits } from './evaluation-memo';
import { TenantHeap } from './tenant-heap';

export const ENTRYPOINTS = ['agent/decide/result', 'agent/whatif/result'] as const;
export type Entrypoint = (typeof ENTRYPOINTS)[number] | 'agent/gateway/result';

/** An input as an object, or already serialised to JSON (text or UTF-8 bytes). */
export type PolicyInputValue = object | string | ArrayBuffer | Uint8Array;

/** The data a policy instance serves. */
export interface PolicyData {
  /** The data document without `tenants`. */
  shared: Readonly<Record<string, unknown>>;
  /** Each tenant's `data.tenants[t]`, serialised and raw-deflated: kept outside the WASM heap until used. */
  tenants: ReadonlyMap<string, Uint8Array>;
  /** Heap bytes resident tenant documents may take (see TenantHeap). */
  residentBytes?: number | undefined;
  /** Bounds of the memo of results by input (EvaluationMemo); default DEFAULT_MEMO_LIMITS. */
  memo?: MemoLimits | undefined;
}

/** The fields of opa-wasm's LoadedPolicy it does not type: the data address is chosen per call. */
interface LoadedPolicyInternals {
  dataAddr: number;
  dataHeapPtr: number;
  baseHeapPtr: number;
  wasmInstance: WebAssembly.Instance;
  mem: WebAssembly.Memory;
}

const encoder = new TextEncoder();

/**
 * One opa-wasm instance with its data set. opa-wasm throws strings and plain objects; every
 * throw leaves here as a PdpError. The data never changes after construction (tenant documents
 * are parsed into the heap as they are first used, see TenantHeap), so swapping the engine's
 * reference is the whole of an atomic reload.
 */
export class WasmPolicy {
  private readonly ids: ReadonlyMap<string, number>;
  private readonly internals: LoadedPolicyInternals;

  private constructor(
    private readonly policy: LoadedPolicy,
    private readonly heap: TenantHeap,
    private readonly memo: EvaluationMemo,
  ) {
    this.ids = new Map(Object.entries(policy.entrypoints as Record<string, number>));
    this.internals = policy as unknown as LoadedPolicyInternals;
  }

  static async compile(wasm: Buffer): Promise<WebAssembly.Module> {
    try {
      return await WebAssembly.compile(wasm);
    } catch (err) {
      throw new PdpError('bundle_invalid', `policy.wasm does not compile: ${describeThrown(err)}`);
    }
  }

  static async instantiate(module: WebAssembly.Module, data: PolicyData): Promise<WasmPolicy> {
    try {
      const policy = await loadPolicy(module, { initial: 16 });
      const internals = policy as unknown as LoadedPolicyInternals;
      const heap = new TenantHeap(
        internals.wasmInstance.exports as unknown as ConstructorParameters<typeof TenantHeap>[0],
        internals.mem,
        internals.baseHeapPtr,
        data.shared,
        data.tenants,
        data.residentBytes,
      );
      return new WasmPolicy(policy, heap, new EvaluationMemo(data.memo ?? DEFAULT_MEMO_LIMITS));
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

  /**
   * Evaluates synchronously; returns the entrypoint's value, or undefined when the rule is
   * undefined. `tenant` must be the tenant the input names (`tenantOf`): only that tenant's data is
   * in the document the policy reads. It is read from an object input when not given, and should be
   * given with a serialised one (else the text is parsed for it).
   */
  evaluate(entrypoint: Entrypoint, input: PolicyInputValue, tenant?: string): unknown {
    const id = this.ids.get(entrypoint);
    if (id === undefined) {
      throw new PdpError('policy_evaluation_failed', `bundle has no entrypoint ${entrypoint}`);
    }
    return this.evaluateId(id, input, tenant);
  }

  /**
   * As `evaluate`, remembering the result under `key` instead of the input's text: the caller's
   * promise is that `key` determines `input` exactly within this instance (an MCP input names its
   * body by a ReadBody id rather than by the body's content, so a repeated call neither serialises
   * nor digests its arguments). These keys have their own namespace: never compared with an
   * input's text. On a miss `input` itself is evaluated.
   */
  evaluateKeyed(entrypoint: Entrypoint, input: object, key: string): unknown {
    const id = this.ids.get(entrypoint);
    if (id === undefined) {
      throw new PdpError('policy_evaluation_failed', `bundle has no entrypoint ${entrypoint}`);
    }
    if (!this.memo.enabled) return this.evaluateId(id, input, undefined);
    const slot = id + KEYED_SLOTS;
    const known = this.memo.get(slot, key);
    if (known !== undefined) return known;
    const json = JSON.stringify(input);
    const result = this.run(id, encoder.encode(json).buffer, tenantOf(input));
    return this.memo.admits(json) ? this.memo.set(slot, key, result) : result;
  }

  private evaluateId(id: number, input: PolicyInputValue, tenant: string | undefined): unknown {
    // Only an object input whose own tenant is used is remembered: its text is the whole key.
    if (tenant !== undefined || !this.memo.enabled || !isPlainInput(input)) {
      return this.run(id, serialised(input), tenant ?? tenantOf(input));
    }
    const json = JSON.stringify(input);
    if (!this.memo.admits(json)) return this.run(id, encoder.encode(json).buffer, tenantOf(input));
    const known = this.memo.get(id, json);
    if (known !== undefined) return known;
    return this.memo.set(id, json, this.run(id, encoder.encode(json).buffer, tenantOf(input)));
  }

  /** Results remembered (EvaluationMemo). */
  get memoSize(): number {
    return this.memo.size;
  }

  private run(id: number, input: object | ArrayBuffer, tenant: string): unknown {
    let resultSet: unknown;
    try {
      this.internals.dataAddr = this.heap.documentFor(tenant);
      this.internals.dataHeapPtr = this.heap.scratchBase;
      resultSet = this.policy.evaluate(input, id);
    } catch (err) {
      if (err instanceof PdpError) throw err;
      throw new PdpError('policy_evaluation_failed', `policy evaluation failed: ${describeThrown(err)}`);
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) return undefined;
    return (resultSet[0] as { result?: unknown }).result;
  }

  /** The serialised `data.tenants[tenant]` this instance evaluates with, or undefined. */
  tenantJson(tenant: string): string | undefined {
    const json = this.heap.tenantJson(tenant);
    return json === undefined ? undefined : new TextDecoder().decode(json);
  }

  /** The heap bytes resident tenant data may take (TenantHeap). */
  get residentBudgetBytes(): number {
    return this.heap.budgetBytes;
  }

  /** Tenants whose data is parsed into the heap now. */
  get residentTenants(): number {
    return this.heap.residentCount;
  }

  get memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }
}

/** The tenant whose data an input is decided with: `input.request.tenant`, "default" when absent (facts.rego). */
export function tenantOf(input: PolicyInputValue): string {
  const value =
    typeof input === 'string' || input instanceof ArrayBuffer || input instanceof Uint8Array
      ? (JSON.parse(typeof input === 'string' ? input : new TextDecoder().decode(input)) as unknown)
      : input;
  const request = isObject(value) && Object.hasOwn(value, 'request') ? value['request'] : undefined;
  const tenant = isObject(request) && Object.hasOwn(request, 'tenant') ? request['tenant'] : undefined;
  return typeof tenant === 'string' && tenant !== '' ? tenant : 'default';
}

function isPlainInput(input: PolicyInputValue): input is object {
  return typeof input !== 'string' && !(input instanceof ArrayBuffer) && !(input instanceof Uint8Array);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Memo slots of evaluateKeyed: past every entrypoint id. */
const KEYED_SLOTS = 1 << 16;

/** opa-wasm takes an object (and stringifies it) or JSON bytes in an ArrayBuffer. */
function serialised(input: PolicyInputValue): object | ArrayBuffer {
  if (input instanceof ArrayBuffer) return input;
  let bytes: Uint8Array;
  if (typeof input === 'string') bytes = encoder.encode(input);
  else if (input instanceof Uint8Array) bytes = input;
  else return input;
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  // A view of a larger (or shared) buffer is copied: opa-wasm reads the whole ArrayBuffer.
  return whole && bytes.buffer instanceof ArrayBuffer ? bytes.buffer : new Uint8Array(bytes).buffer;
}
