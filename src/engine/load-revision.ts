import { DEFAULT_MEMO_LIMITS } from './evaluation-memo';
import { createHash } from 'node:crypto';
import { PdpError } from '../errors';
import { bundleFromFiles, type Bundle } from './bundle';
import type { BundleSignature, BundleVerifier } from './bundle-signature';
import {
  packTenants,
  unsupportedNotices,
  type ExternalTenantDocs,
  type TenantDataCompiler,
  type TenantSummary,
  type UnsupportedNotice,
} from './tenant-data';
import { OUTCOME_TABLE } from './ca-outcomes';
import { ENTRYPOINTS, WasmPolicy } from './wasm-policy';

/** The policy and data that serve decisions; replaced whole, never modified. */
export interface ActiveRevision {
  readonly policy: WasmPolicy;
  readonly revision: string;
  readonly bundleRevision: string;
  readonly dataRevision: string;
  /** What responses and listings show of each tenant; the evaluation data is in `policy`. */
  readonly tenants: Readonly<Record<string, TenantSummary>>;
  readonly loadedAt: string;
  /** The bundle's verified signature, or null when no verification key is configured. */
  readonly signature: BundleSignature | null;
}

/** A bundle that verified and parsed. */
export interface AcceptedBundle {
  readonly bundle: Bundle;
  readonly signature: BundleSignature | null;
}

/** A compiled policy.wasm, reused while the bundle's WASM bytes do not change. */
export interface CompiledModule {
  readonly hash: string;
  readonly module: WebAssembly.Module;
}

export interface RevisionSettings {
  dataDir: string | null;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  /** See TenantHeap; undefined for its default. */
  residentTenantBytes?: number | undefined;
  /** See EvaluationMemo; undefined for its default. */
  memoEntries?: number | undefined;
  compiler: TenantDataCompiler;
  /** Documents of the Graph sync, by tenant (merged between the bundle's and the data directory's). */
  external?: ReadonlyMap<string, ExternalTenantDocs> | undefined;
  /** Epoch ms, for `loadedAt`. */
  now: number;
}

export type LoadedRevision =
  /** Same bundle and data as `previous`: nothing to swap. */
  | { readonly status: 'unchanged'; readonly revision: string }
  | {
      readonly status: 'loaded';
      readonly active: ActiveRevision;
      readonly module: CompiledModule;
      /** Policies kept with conditions the PDP cannot evaluate, for a warning. */
      readonly notices: UnsupportedNotice[];
    };

/** Verifies a bundle's files (before anything of them is parsed) and parses them. */
export async function acceptFiles(
  files: Map<string, Buffer>,
  source: string,
  verifier: BundleVerifier | null,
): Promise<AcceptedBundle> {
  // An unverified byte never reaches JSON.parse or WebAssembly.
  const signature = verifier === null ? null : await verifier.verify(files, source);
  return { bundle: bundleFromFiles(files, source), signature };
}

/**
 * A bundle and the data directory → the revision they make: tenant data compiled and packed, the
 * WASM compiled (or reused from `previous`) and instantiated. Touches no engine state: the caller
 * decides what to do with the result; a problem is thrown as a PdpError.
 */
export async function loadRevision(
  { bundle, signature }: AcceptedBundle,
  previous: { active: ActiveRevision | null; module: CompiledModule | null },
  settings: RevisionSettings,
): Promise<LoadedRevision> {
  const tenants = await settings.compiler.compile(bundle.data, settings.dataDir, settings.external);
  const wasmHash = createHash('sha256').update(bundle.wasm).digest('hex');
  const bundleRevision = bundle.manifest.revision !== '' ? bundle.manifest.revision : wasmHash.slice(0, 12);
  const packed = packTenants(tenants, bundle.data);
  const revision = `${bundleRevision}+${packed.dataRevision}`;
  if (previous.active?.revision === revision && previous.module?.hash === wasmHash) {
    return { status: 'unchanged', revision };
  }
  const module =
    previous.module?.hash === wasmHash
      ? previous.module
      : { hash: wasmHash, module: await WasmPolicy.compile(bundle.wasm) };
  const policy = await WasmPolicy.instantiate(module.module, {
    shared: {
      ...bundle.data,
      // The table the service decodes outcome codes with, whatever the bundle's data holds.
      ca_outcomes: OUTCOME_TABLE,
      pdp: {
        config: {
          default_ttl_seconds: settings.defaultTtlSeconds,
          max_ttl_seconds: settings.maxTtlSeconds,
        },
      },
    },
    tenants: packed.json,
    residentBytes: settings.residentTenantBytes,
    memo:
      settings.memoEntries === undefined
        ? DEFAULT_MEMO_LIMITS
        : { ...DEFAULT_MEMO_LIMITS, entries: settings.memoEntries },
  });
  const missing = ENTRYPOINTS.filter((e) => !policy.has(e));
  if (missing.length > 0) {
    throw new PdpError('bundle_invalid', `bundle lacks entrypoint(s) ${missing.join(', ')}`);
  }
  const active: ActiveRevision = Object.freeze({
    policy,
    revision,
    bundleRevision,
    dataRevision: packed.dataRevision,
    tenants: packed.summaries,
    loadedAt: new Date(settings.now).toISOString(),
    signature,
  });
  return { status: 'loaded', active, module, notices: unsupportedNotices(tenants) };
}
