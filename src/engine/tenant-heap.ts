import { inflateRawSync } from 'node:zlib';
import { PdpError } from '../errors';

/** The opa-wasm exports this module drives (OPA's WASM ABI 1.2). */
interface OpaExports {
  opa_malloc(size: number): number;
  opa_free(addr: number): void;
  opa_json_parse(addr: number, len: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(addr: number): void;
  opa_value_add_path(base: number, path: number, value: number): number;
}

/** Heap bytes a resident tenant may hold per byte of its JSON (OPA's values are ~10× the text). */
const HEAP_PER_JSON_BYTE = 12;

/** The resident-data budget when none is given: about 550 tenants of 8 policies. */
export const DEFAULT_RESIDENT_BYTES = 64 * 2 ** 20;

const encoder = new TextEncoder();

/**
 * The data documents of one opa-wasm instance, one per tenant. The Rego reads only
 * `data.tenants[<the request's tenant>]`, so each evaluation is given a data document holding that
 * tenant alone (and the shared data). Tenants stay outside the WASM heap as deflated JSON and are
 * parsed into it on first use; parsed documents stay resident, at a fixed address, up to a budget
 * of heap bytes, after which the resident region is emptied and refilled by use. The heap so never
 * grows with the number of tenants, and a tenant in use costs no more than a tenant alone.
 *
 * Heap layout (OPA's allocator is a bump allocator whose free lists `opa_heap_ptr_set` resets):
 * [opa-wasm's own {}][shared values][empty-tenant document][resident tenants …][evaluation scratch]
 */
export class TenantHeap {
  private readonly resident = new Map<string, number>();
  private readonly shared: { path: number; value: number }[] = [];
  private readonly noTenant: number;
  private readonly regionBase: number;
  private regionTop: number;

  private readonly residentBytes: number;

  // Not named `exports`: in the CommonJS output that would shadow the module's own `exports`.
  constructor(
    private readonly opa: OpaExports,
    private readonly memory: WebAssembly.Memory,
    heapBase: number,
    /** The data document without `tenants` (e.g. `pdp.config`, bundle data). */
    sharedData: Readonly<Record<string, unknown>>,
    /** Each tenant's `data.tenants[t]`, serialised and raw-deflated (see packTenants). */
    private readonly tenants: ReadonlyMap<string, Uint8Array>,
    residentBytes: number | undefined,
  ) {
    this.residentBytes = residentBytes ?? DEFAULT_RESIDENT_BYTES;
    opa.opa_heap_ptr_set(heapBase);
    for (const [key, value] of Object.entries(sharedData)) {
      if (key === 'tenants') continue;
      this.shared.push({
        path: this.parse([encoder.encode(JSON.stringify([key]))]),
        value: this.parse([encoder.encode(JSON.stringify(value))]),
      });
    }
    this.noTenant = this.compose([encoder.encode('{"tenants":{}}')]);
    this.regionBase = opa.opa_heap_ptr_get();
    this.regionTop = this.regionBase;
  }

  /** Where evaluation may allocate: above every resident document. */
  get scratchBase(): number {
    return this.regionTop;
  }

  /** The budget of heap bytes for resident documents. */
  get budgetBytes(): number {
    return this.residentBytes;
  }

  get residentCount(): number {
    return this.resident.size;
  }

  /** The serialised `data.tenants[tenant]`, as the policy reads it; undefined for an unknown tenant. */
  tenantJson(tenant: string): Uint8Array | undefined {
    const packed = this.tenants.get(tenant);
    return packed === undefined ? undefined : inflateRawSync(packed);
  }

  /** The address of a data document holding `tenant` alone; parses it on first use. */
  documentFor(tenant: string): number {
    const resident = this.resident.get(tenant);
    if (resident !== undefined) return resident;
    const json = this.tenantJson(tenant);
    if (json === undefined) return this.noTenant;
    const expected = json.byteLength * HEAP_PER_JSON_BYTE;
    if (this.resident.size > 0 && this.regionTop - this.regionBase + expected > this.residentBytes) {
      // Full: start the region again; the tenants in use come back on their next evaluation.
      this.resident.clear();
      this.regionTop = this.regionBase;
    }
    this.opa.opa_heap_ptr_set(this.regionTop);
    const address = this.compose([
      encoder.encode(`{"tenants":{${JSON.stringify(tenant)}:`),
      json,
      encoder.encode('}}'),
    ]);
    this.regionTop = this.opa.opa_heap_ptr_get();
    this.resident.set(tenant, address);
    return address;
  }

  /** Parses a document from its parts and adds the shared values to it (by reference, not copied). */
  private compose(parts: Uint8Array[]): number {
    const doc = this.parse(parts);
    for (const { path, value } of this.shared) {
      if (this.opa.opa_value_add_path(doc, path, value) !== 0) {
        throw new PdpError('bundle_invalid', 'policy data could not be composed in the WASM heap');
      }
    }
    return doc;
  }

  /** JSON text (in parts, not concatenated in JS) → a value at the heap pointer. */
  private parse(parts: Uint8Array[]): number {
    const length = parts.reduce((n, p) => n + p.byteLength, 0);
    const raw = this.opa.opa_malloc(length);
    const heap = new Uint8Array(this.memory.buffer);
    let at = raw;
    for (const part of parts) {
      heap.set(part, at);
      at += part.byteLength;
    }
    const value = this.opa.opa_json_parse(raw, length);
    if (value === 0) throw new PdpError('bundle_invalid', 'policy data is not valid JSON for the WASM heap');
    this.opa.opa_free(raw);
    return value;
  }
}
