import { createHash } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { PdpError, describeThrown } from '../errors';
import { readBundle, type Bundle } from './bundle';
import { TenantDataCompiler, dataRevision, type TenantData } from './tenant-data';
import { ENTRYPOINTS, WasmPolicy, type Entrypoint } from './wasm-policy';

export interface EngineOptions {
  bundle: string;
  dataDir: string | null;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  logger: Logger;
  clock: () => number;
  /** Injectable so tests can load a bundle that is not on disk. */
  readBundle?: (location: string) => Promise<Bundle>;
}

/** The policy and data that serve decisions; replaced whole, never modified. */
export interface ActiveRevision {
  readonly policy: WasmPolicy;
  readonly revision: string;
  readonly bundleRevision: string;
  readonly dataRevision: string;
  readonly tenants: Readonly<Record<string, TenantData>>;
  readonly loadedAt: string;
}

export interface ReloadResult {
  changed: boolean;
  revision: string;
}

export class PolicyEngine {
  private active: ActiveRevision | null = null;
  private compiledModule: { hash: string; module: WebAssembly.Module } | null = null;
  private readonly compiler = new TenantDataCompiler();
  private reloading: Promise<ReloadResult> | null = null;
  private reloadAgain = false;
  private lastErrorValue: PdpError | null = null;
  private readonly listeners = new Set<(r: ActiveRevision) => void>();
  /** Fingerprint of the sources as they were when the last load began; the watcher compares against it. */
  private loadedPrint: string | null = null;

  constructor(private readonly opts: EngineOptions) {}

  get current(): ActiveRevision | null {
    return this.active;
  }

  get ready(): boolean {
    return this.active !== null;
  }

  /** The last reload failure, cleared by the next success; shown on /v1/policies. */
  get lastError(): PdpError | null {
    return this.lastErrorValue;
  }

  onSwap(listener: (r: ActiveRevision) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  evaluate(entrypoint: Entrypoint, input: object): { result: unknown; revision: ActiveRevision } {
    const active = this.active;
    if (active === null) throw new PdpError('not_ready', 'No policy bundle is loaded');
    return { result: active.policy.evaluate(entrypoint, input), revision: active };
  }

  /**
   * Loads bundle + data and swaps them in. Concurrent calls coalesce: one reload runs at a time and
   * a request arriving during it schedules exactly one more. A failure leaves the active revision
   * serving and is rethrown.
   */
  reload(): Promise<ReloadResult> {
    if (this.reloading !== null) {
      this.reloadAgain = true;
      return this.reloading;
    }
    const run = async (): Promise<ReloadResult> => {
      try {
        let result = await this.loadOnce();
        while (this.reloadAgain) {
          this.reloadAgain = false;
          result = await this.loadOnce();
        }
        return result;
      } finally {
        this.reloading = null;
      }
    };
    this.reloading = run();
    return this.reloading;
  }

  private async loadOnce(): Promise<ReloadResult> {
    const { logger } = this.opts;
    // Taken before reading, so a change made during the read is seen by the next check.
    this.loadedPrint = await this.fingerprint();
    try {
      const bundle = await (this.opts.readBundle ?? readBundle)(this.opts.bundle);
      const tenants = await this.compiler.compile(bundle.data, this.opts.dataDir);
      const wasmHash = createHash('sha256').update(bundle.wasm).digest('hex');
      const bundleRevision =
        bundle.manifest.revision !== '' ? bundle.manifest.revision : wasmHash.slice(0, 12);
      const revision = `${bundleRevision}+${dataRevision(tenants)}`;
      if (this.active?.revision === revision && this.compiledModule?.hash === wasmHash) {
        this.lastErrorValue = null;
        return { changed: false, revision };
      }
      if (this.compiledModule?.hash !== wasmHash) {
        this.compiledModule = { hash: wasmHash, module: await WasmPolicy.compile(bundle.wasm) };
      }
      const data = {
        ...bundle.data,
        pdp: {
          config: {
            default_ttl_seconds: this.opts.defaultTtlSeconds,
            max_ttl_seconds: this.opts.maxTtlSeconds,
          },
        },
        tenants,
      };
      const policy = await WasmPolicy.instantiate(this.compiledModule.module, JSON.stringify(data));
      const missing = ENTRYPOINTS.filter((e) => !policy.has(e));
      if (missing.length > 0) {
        throw new PdpError('bundle_invalid', `bundle lacks entrypoint(s) ${missing.join(', ')}`);
      }
      const next: ActiveRevision = Object.freeze({
        policy,
        revision,
        bundleRevision,
        dataRevision: revision.slice(bundleRevision.length + 1),
        tenants,
        loadedAt: new Date(this.opts.clock()).toISOString(),
      });
      const previous = this.active?.revision ?? null;
      this.active = next;
      this.lastErrorValue = null;
      logger.info({ revision, previous, tenants: Object.keys(tenants).length }, 'policy revision active');
      for (const listener of this.listeners) listener(next);
      return { changed: true, revision };
    } catch (err) {
      const error =
        err instanceof PdpError
          ? err
          : new PdpError('bundle_invalid', describeThrown(err), [], { cause: err });
      this.lastErrorValue = error;
      logger.error(
        { code: error.code, details: error.details, serving: this.active?.revision ?? null },
        `policy reload rejected: ${error.message}`,
      );
      throw error;
    }
  }

  /**
   * Reloads when the bundle or data directory changes: fs.watch for promptness, plus a stat-based
   * poll because watch events are lost on some filesystems (network mounts, ConfigMap symlink swaps).
   */
  watch(pollSeconds: number): () => void {
    const watchers: FSWatcher[] = [];
    let debounce: NodeJS.Timeout | null = null;
    const trigger = (): void => {
      if (debounce !== null) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = null;
        void this.reloadIfChanged().catch(() => undefined);
      }, 100);
    };
    const bundleIsDir = statSync(this.opts.bundle, { throwIfNoEntry: false })?.isDirectory() ?? false;
    for (const target of [
      this.opts.dataDir,
      bundleIsDir ? this.opts.bundle : path.dirname(this.opts.bundle),
    ]) {
      if (target === null) continue;
      try {
        const w = watch(target, { recursive: true, persistent: false }, trigger);
        w.on('error', () => undefined);
        watchers.push(w);
      } catch (err) {
        this.opts.logger.warn({ target, err: describeThrown(err) }, 'fs.watch unavailable; polling only');
      }
    }
    const poll = pollSeconds > 0 ? setInterval(trigger, pollSeconds * 1000) : null;
    poll?.unref();
    return () => {
      for (const w of watchers) w.close();
      if (poll !== null) clearInterval(poll);
      if (debounce !== null) clearTimeout(debounce);
    };
  }

  /** Reloads only when a source changed since the last load began (a failed load is not retried until then). */
  async reloadIfChanged(): Promise<void> {
    if (this.reloading === null && (await this.fingerprint()) === this.loadedPrint) return;
    await this.reload();
  }

  private fingerprint(): Promise<string> {
    return fingerprint([this.opts.bundle, this.opts.dataDir]);
  }
}

/** Paths, sizes and mtimes of everything under the given files/directories. */
async function fingerprint(roots: readonly (string | null)[]): Promise<string> {
  const parts: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const info = await stat(p).catch(() => null);
    if (info === null) return;
    if (info.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await visit(path.join(p, name));
    } else {
      parts.push(`${p}:${info.size}:${info.mtimeMs}`);
    }
  };
  for (const root of roots) if (root !== null) await visit(root);
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}
