import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PdpError, describeThrown } from '../errors';
import { bundleFromFiles, type Bundle } from './bundle';
import { HttpBundleSource, realTimers, type FetchLike, type Timers } from './bundle-http';
import { BundleVerifier, type BundleSignature } from './bundle-signature';
import { FunctionBundleSource, LocalBundleSource, isBundleUrl, type BundleSource } from './bundle-source';
import { OUTCOME_TABLE } from './ca-outcomes';
import { eventsComplete, rootPrint, treePrint } from './source-print';
import { TenantDataCompiler, dataRevision, unsupportedNotices, type TenantData } from './tenant-data';
import { TreeWatcher } from './tree-watcher';
import { ENTRYPOINTS, WasmPolicy, type Entrypoint } from './wasm-policy';

/** The outcome of one load attempt, for metrics. */
export type LoadOutcome = 'success' | 'failure' | 'unchanged';

export interface RemoteBundleOptions {
  /** Request timeout (headers and body), default 10 s. */
  timeoutMs?: number | undefined;
  /** Cap of the retry delay after failed fetches, default 60 s. */
  maxBackoffMs?: number | undefined;
  /** Extra request headers (e.g. `authorization`). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Injectable fetch (tests). */
  fetch?: FetchLike | undefined;
  /** Jitter source in [0, 1) (tests). */
  random?: (() => number) | undefined;
  /** Timers for request timeouts; default the engine's `timers`. */
  timers?: Timers | undefined;
}

export interface EngineOptions {
  /** A bundle directory, a .tar.gz file, or an http(s) URL serving the .tar.gz (PDP_BUNDLE). */
  bundle: string;
  dataDir: string | null;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  logger: Logger;
  clock: () => number;
  /** Injectable so tests can load a bundle that is not on disk. */
  readBundle?: (location: string) => Promise<Bundle>;
  /** Injectable bundle source; overrides `bundle`-derived sources and `readBundle`. */
  source?: BundleSource | undefined;
  /**
   * PDP_BUNDLE_VERIFY_KEY: a PEM public key, a JWKS/JWK (JSON), or with an HS* `verifyAlgorithm` a shared
   * secret. When set, every bundle (local or remote) must carry a valid OPA signature.
   */
  verifyKey?: string | null | undefined;
  /** JWS algorithm of the verification key; default from the key (RSA → RS256, OPA's default). */
  verifyAlgorithm?: string | undefined;
  /** Key id (OPA `--verification-key-id`): names a PEM key, pins a JWKS key. */
  verifyKeyId?: string | undefined;
  /** Expected `scope` claim of the signature; default none. */
  verifyScope?: string | undefined;
  /** Options for an http(s) bundle. */
  remote?: RemoteBundleOptions | undefined;
  /** Timers for the remote poll loop and request timeouts (tests). */
  timers?: Timers | undefined;
  /** Called once per load attempt, with the revision serving afterwards (null when none). */
  onLoad?: ((outcome: LoadOutcome, revision: string | null) => void) | undefined;
}

/** The policy and data that serve decisions; replaced whole, never modified. */
export interface ActiveRevision {
  readonly policy: WasmPolicy;
  readonly revision: string;
  readonly bundleRevision: string;
  readonly dataRevision: string;
  readonly tenants: Readonly<Record<string, TenantData>>;
  readonly loadedAt: string;
  /** The bundle's verified signature, or null when no verification key is configured. */
  readonly signature: BundleSignature | null;
}

/** How far a change check looks: the O(1) roots only, or every file of the data directory too. */
export type CheckDepth = 'roots' | 'files';

/** Fingerprints of the local sources (see source-print.ts); `files` is null when not taken. */
interface SourcePrint {
  roots: string;
  files: string | null;
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
  private loadedPrint: SourcePrint | null = null;
  private checking: Promise<void> | null = null;
  /** A check was asked for while one ran: run one more, at least this deep, afterwards. */
  private checkAgain: CheckDepth | null = null;
  /** The last bundle that verified, parsed and went into service (reused on a 304). */
  private lastBundle: { bundle: Bundle; signature: BundleSignature | null } | null = null;
  private readonly source: BundleSource;
  private readonly verifier: BundleVerifier | null;
  private readonly timers: Timers;

  /** Throws `PdpError('config_invalid')` for an unusable verification key or bundle URL. */
  constructor(private readonly opts: EngineOptions) {
    const key = opts.verifyKey ?? null;
    this.verifier =
      key !== null && key.trim() !== ''
        ? new BundleVerifier({
            key,
            algorithm: opts.verifyAlgorithm,
            keyId: opts.verifyKeyId,
            scope: opts.verifyScope,
          })
        : null;
    this.timers = opts.timers ?? realTimers;
    if (opts.source !== undefined) {
      this.source = opts.source;
    } else if (opts.readBundle !== undefined) {
      this.source = new FunctionBundleSource(opts.bundle, opts.readBundle);
    } else if (isBundleUrl(opts.bundle)) {
      this.source = new HttpBundleSource(opts.bundle, {
        ...opts.remote,
        timers: opts.remote?.timers ?? this.timers,
      });
    } else {
      this.source = new LocalBundleSource(opts.bundle, { allFiles: this.verifier !== null });
    }
  }

  /** Where bundles come from; a remote source exposes its ETag and failure count. */
  get bundleSource(): BundleSource {
    return this.source;
  }

  /** Whether every bundle must carry a valid signature. */
  get verifiesSignatures(): boolean {
    return this.verifier !== null;
  }

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
    const print = await this.sourcePrint('files');
    const localUnchanged =
      this.loadedPrint !== null &&
      print.roots === this.loadedPrint.roots &&
      print.files === this.loadedPrint.files;
    this.loadedPrint = print;
    try {
      let read = await this.source.read();
      if (read.status === 'unchanged' && this.lastBundle === null) {
        // Cannot happen (validators advance only with an accepted bundle), but never trust a 304 blindly.
        this.source.reset?.();
        read = await this.source.read();
        if (read.status === 'unchanged') {
          throw new PdpError('bundle_invalid', `${this.source.location}: unchanged, but no bundle is cached`);
        }
      }
      if (
        read.status === 'unchanged' &&
        localUnchanged &&
        this.active !== null &&
        this.lastErrorValue === null
      ) {
        // HTTP 304 and no local change: nothing to do at all.
        this.emitLoad('unchanged', this.active.revision);
        return { changed: false, revision: this.active.revision };
      }
      let bundle: Bundle;
      let signature: BundleSignature | null = null;
      let commit = (): void => undefined;
      if (read.status === 'unchanged') {
        const cached = this.lastBundle;
        if (cached === null)
          throw new PdpError('bundle_invalid', `${this.source.location}: no bundle cached`);
        ({ bundle, signature } = cached);
      } else if (read.status === 'files') {
        // Verify before parsing anything: an unverified byte never reaches JSON.parse or WebAssembly.
        if (this.verifier !== null) signature = await this.verifier.verify(read.files, read.source);
        bundle = bundleFromFiles(read.files, read.source);
        commit = read.commit;
      } else {
        bundle = read.bundle;
        if (this.verifier !== null) {
          if (bundle.files === undefined) {
            throw new PdpError(
              'bundle_invalid',
              `${bundle.source}: no files to verify the signature against`,
            );
          }
          signature = await this.verifier.verify(bundle.files, bundle.source);
        }
      }
      const tenants = await this.compiler.compile(bundle.data, this.opts.dataDir);
      const wasmHash = createHash('sha256').update(bundle.wasm).digest('hex');
      const bundleRevision =
        bundle.manifest.revision !== '' ? bundle.manifest.revision : wasmHash.slice(0, 12);
      const revision = `${bundleRevision}+${dataRevision(tenants, bundle.data)}`;
      if (this.active?.revision === revision && this.compiledModule?.hash === wasmHash) {
        this.lastBundle = { bundle, signature };
        commit();
        this.lastErrorValue = null;
        this.emitLoad('unchanged', revision);
        return { changed: false, revision };
      }
      if (this.compiledModule?.hash !== wasmHash) {
        this.compiledModule = { hash: wasmHash, module: await WasmPolicy.compile(bundle.wasm) };
      }
      const data = {
        ...bundle.data,
        // The table the service decodes outcome codes with, whatever the bundle's data holds.
        ca_outcomes: OUTCOME_TABLE,
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
        signature,
      });
      const previous = this.active?.revision ?? null;
      this.active = next;
      this.lastBundle = { bundle, signature };
      commit();
      this.lastErrorValue = null;
      logger.info(
        {
          revision,
          previous,
          tenants: Object.keys(tenants).length,
          source: bundle.source,
          ...(signature !== null ? { signed_by: signature.keyId } : {}),
        },
        'policy revision active',
      );
      for (const notice of unsupportedNotices(tenants)) {
        logger.warn(
          notice,
          'conditional access policy with conditions the PDP cannot evaluate: reported as reportOnlyNotApplied (unsupportedCondition)',
        );
      }
      for (const listener of this.listeners) listener(next);
      this.emitLoad('success', revision);
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
      this.emitLoad('failure', this.active?.revision ?? null);
      throw error;
    }
  }

  private emitLoad(outcome: LoadOutcome, revision: string | null): void {
    try {
      this.opts.onLoad?.(outcome, revision);
    } catch (err) {
      this.opts.logger.warn({ err: describeThrown(err) }, 'onLoad hook threw');
    }
  }

  /**
   * Reloads when a local bundle or the data directory changes, in three layers:
   * - fs.watch, one watch per directory (TreeWatcher): an edit is live as soon as it is reloaded;
   * - every `pollSeconds`, an O(1) check of the roots: a symlink swapped in or above them (a
   *   ConfigMap update, git-sync), an entry added or removed at the top, a bundle file replaced;
   * - every `dataPollSeconds`, a stat of every data file, for edits no event reports: it runs only
   *   when events cannot be trusted (a network or FUSE filesystem, or a directory that could not be
   *   watched), as it costs about 35 µs of CPU per file (a second per pass with 2,000 tenants).
   * A remote bundle is polled with conditional GETs every `pollSeconds` instead.
   */
  watch(pollSeconds: number, dataPollSeconds: number = pollSeconds): () => void {
    const trees: TreeWatcher[] = [];
    let debounce: NodeJS.Timeout | null = null;
    const check = (depth: CheckDepth): void => {
      void this.reloadIfChanged(depth).catch(() => undefined);
    };
    const onEvent = (): void => {
      if (debounce !== null) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = null;
        // Watches first (a new tenant directory), then the check: a file written before its
        // directory was watched is still seen by this check.
        void Promise.all(trees.map((t) => t.sync()))
          .then(() => this.reloadIfChanged('files'))
          .catch(() => undefined);
      }, 100);
    };
    const { logger, dataDir } = this.opts;
    const dataTree =
      dataDir === null ? null : new TreeWatcher(dataDir, { recursive: true, onChange: onEvent, logger });
    if (dataTree !== null) trees.push(dataTree);
    const localBundle = this.source.kind !== 'remote';
    if (localBundle) {
      const bundleIsDir = statSync(this.opts.bundle, { throwIfNoEntry: false })?.isDirectory() ?? false;
      trees.push(
        new TreeWatcher(bundleIsDir ? this.opts.bundle : path.dirname(this.opts.bundle), {
          recursive: bundleIsDir,
          onChange: onEvent,
          logger,
        }),
      );
    }
    const firstSync = Promise.all(trees.map((t) => t.sync())).catch(() => undefined);
    // A change made after the last load but before the watches were set raised no event: one
    // full check once they are set closes that window.
    void firstSync.then(() => this.reloadIfChanged('files')).catch(() => undefined);
    // A new revision may come with new directories, or from a swapped link: watch what it is now.
    const stopResync = this.onSwap(() => {
      void Promise.all(trees.map((t) => t.sync())).catch(() => undefined);
    });
    /** The full pass is needed only where a change can happen without an event reaching us. */
    const eventsMissChanges = async (): Promise<boolean> =>
      dataDir !== null && !(dataTree?.complete === true && (await eventsComplete(dataDir)));
    if (dataTree !== null && dataDir !== null) {
      void firstSync
        .then(eventsMissChanges)
        .then((polls) => {
          logger.info(
            {
              data_dir: dataDir,
              watched_directories: dataTree.size,
              full_pass:
                polls && dataPollSeconds > 0 ? `every ${dataPollSeconds} s` : 'off (fs.watch sees all)',
            },
            'watching the data directory',
          );
        })
        .catch(() => undefined);
    }
    const timers: NodeJS.Timeout[] = [];
    if (pollSeconds > 0 && (localBundle || dataDir !== null)) {
      timers.push(
        setInterval(() => {
          check('roots');
          // The data directory itself was removed (its watch with it): watch it again once it is back.
          if (dataTree?.size === 0) void dataTree.sync().catch(() => undefined);
        }, pollSeconds * 1000),
      );
    }
    if (dataPollSeconds > 0 && dataDir !== null) {
      const fullPass = async (): Promise<void> => {
        if (await eventsMissChanges()) await this.reloadIfChanged('files');
      };
      timers.push(
        setInterval(() => {
          void fullPass().catch(() => undefined);
        }, dataPollSeconds * 1000),
      );
    }
    for (const t of timers) t.unref();
    const stopRemote =
      this.source.kind === 'remote' && pollSeconds > 0 ? this.pollRemote(pollSeconds * 1000) : null;
    return () => {
      for (const t of trees) t.close();
      for (const t of timers) clearInterval(t);
      if (debounce !== null) clearTimeout(debounce);
      stopResync();
      stopRemote?.();
    };
  }

  /**
   * Polls a remote source: a conditional GET every `pollMs` while healthy (a 304 costs nothing), and
   * after failed fetches the source's capped, jittered exponential backoff. One poll at a time.
   */
  private pollRemote(pollMs: number): () => void {
    let stopped = false;
    let handle: unknown = null;
    const schedule = (): void => {
      if (stopped) return;
      const delay = this.source.nextPollDelayMs?.(pollMs) ?? pollMs;
      handle = this.timers.setTimeout(() => {
        handle = null;
        void this.reload()
          .catch(() => undefined)
          .finally(schedule);
      }, delay);
    };
    schedule();
    return () => {
      stopped = true;
      if (handle !== null) this.timers.clearTimeout(handle);
    };
  }

  /**
   * Reloads only when a source changed since the last load began (a failed load is not retried
   * until then). One check runs at a time; a check asked for meanwhile runs once afterwards, so
   * slow passes over a large directory never pile up.
   */
  reloadIfChanged(depth: CheckDepth = 'files'): Promise<void> {
    if (this.checking !== null) {
      this.checkAgain = this.checkAgain === 'files' || depth === 'files' ? 'files' : 'roots';
      return this.checking;
    }
    const run = async (): Promise<void> => {
      let next: CheckDepth | null = depth;
      let failure: Error | null = null;
      try {
        while (next !== null) {
          this.checkAgain = null;
          // Only the last check's outcome is reported; an earlier failure was superseded.
          failure = await this.checkOnce(next).then(
            () => null,
            (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
          );
          next = this.checkAgain;
        }
      } finally {
        this.checking = null;
      }
      if (failure !== null) throw failure;
    };
    this.checking = run();
    return this.checking;
  }

  private async checkOnce(depth: CheckDepth): Promise<void> {
    const print = await this.sourcePrint(depth);
    const loaded = this.loadedPrint;
    const changed =
      loaded === null ||
      print.roots !== loaded.roots ||
      (print.files !== null && print.files !== loaded.files);
    if (changed) await this.reload();
  }

  /** Local sources only: a remote bundle is checked with its ETag, not here. */
  private async sourcePrint(depth: CheckDepth): Promise<SourcePrint> {
    const { dataDir } = this.opts;
    const bundle = this.source.kind !== 'remote' ? this.opts.bundle : null;
    const [bundleRoot, bundleTree, dataRoot, dataFiles] = await Promise.all([
      bundle === null ? '' : rootPrint(bundle),
      // A bundle is a file or a small directory: all of it is part of the cheap check.
      bundle === null ? '' : treePrint(bundle),
      dataDir === null ? '' : rootPrint(dataDir),
      dataDir === null || depth === 'roots' ? null : treePrint(dataDir, { skipDotAtRoot: true }),
    ]);
    return { roots: `${bundleRoot}|${bundleTree}|${dataRoot}`, files: dataFiles };
  }
}
