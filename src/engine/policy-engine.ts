import type { Logger } from 'pino';
import { PdpError, describeThrown } from '../errors';
import { HttpBundleSource, realTimers, type Timers } from './bundle-http';
import { BundleVerifier } from './bundle-signature';
import { LocalBundleSource, isBundleUrl, type BundleSource } from './bundle-source';
import {
  acceptFiles,
  loadRevision,
  type AcceptedBundle,
  type ActiveRevision,
  type CompiledModule,
} from './load-revision';
import { localPrint, type SourcePrint } from './source-print';
import { pollRemote, watchLocal, type CheckDepth } from './source-triggers';
import { TenantDataCompiler, type ExternalTenantDocs } from './tenant-data';
import type { Entrypoint, PolicyInputValue } from './wasm-policy';

export type { ActiveRevision } from './load-revision';
export type { CheckDepth } from './source-triggers';

/** The outcome of one load attempt, for metrics. */
export type LoadOutcome = 'success' | 'failure' | 'unchanged';

export interface EngineOptions {
  /** A bundle directory, a .tar.gz file, or an http(s) URL serving the .tar.gz (PDP_BUNDLE). */
  bundle: string;
  dataDir: string | null;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  logger: Logger;
  clock: () => number;
  /** Where bundles come from; default from `bundle` (LocalBundleSource or HttpBundleSource). */
  source?: BundleSource | undefined;
  /**
   * PDP_BUNDLE_VERIFY_KEY: a PEM public key or a JWKS/JWK (JSON). When set, every bundle (local or
   * remote) must carry a valid OPA signature.
   */
  verifyKey?: string | null | undefined;
  /** Timers for the remote poll loop (tests). */
  timers?: Timers | undefined;
  /** Heap bytes for resident tenant data per instance (TenantHeap); default DEFAULT_RESIDENT_BYTES. */
  residentTenantBytes?: number | undefined;
  /** Results each instance remembers by input (EvaluationMemo); 0: none; default DEFAULT_MEMO_LIMITS. */
  memoEntries?: number | undefined;
  /** Documents of the Graph sync; read at every load. */
  documents?: ExternalDocuments | undefined;
  /** Called once per load attempt, with the revision serving afterwards (null when none). */
  onLoad?: ((outcome: LoadOutcome, revision: string | null) => void) | undefined;
}

/**
 * Documents held outside the bundle and data directory (the Graph sync's, in Redis). `print`
 * identifies the content: an equal print means nothing to reload.
 */
export interface ExternalDocuments {
  read(): Promise<{ print: string; sets: ReadonlyMap<string, ExternalTenantDocs> }>;
}

export interface ReloadResult {
  changed: boolean;
  revision: string;
}

/**
 * The active revision and the loads that replace it. A load (`reload`) reads the source, then
 * `loadRevision` makes the revision and it is swapped in whole; the triggers (`watch`: file events
 * and polls for a local source, conditional GETs for a remote one) only decide when to load.
 */
export class PolicyEngine {
  private active: ActiveRevision | null = null;
  private compiledModule: CompiledModule | null = null;
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
  private lastBundle: AcceptedBundle | null = null;
  private readonly source: BundleSource;
  private readonly verifier: BundleVerifier | null;
  private readonly timers: Timers;
  /** The external documents of the last load that went into service, and their print. */
  private external: { print: string; sets: ReadonlyMap<string, ExternalTenantDocs> } = {
    print: '',
    sets: new Map(),
  };
  private attemptedPrint = '';

  /** Throws `PdpError('config_invalid')` for an unusable verification key or bundle URL. */
  constructor(private readonly opts: EngineOptions) {
    const key = opts.verifyKey ?? null;
    this.verifier = key !== null && key.trim() !== '' ? new BundleVerifier({ key }) : null;
    this.timers = opts.timers ?? realTimers;
    this.source =
      opts.source ??
      (isBundleUrl(opts.bundle)
        ? new HttpBundleSource(opts.bundle, { timers: this.timers })
        : new LocalBundleSource(opts.bundle, { allFiles: this.verifier !== null }));
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

  /** See WasmPolicy.evaluate: `tenant`, when given, must be the tenant the input names. */
  evaluate(
    entrypoint: Entrypoint,
    input: PolicyInputValue,
    tenant?: string,
  ): { result: unknown; revision: ActiveRevision } {
    const active = this.active;
    if (active === null) throw new PdpError('not_ready', 'No policy bundle is loaded');
    return { result: active.policy.evaluate(entrypoint, input, tenant), revision: active };
  }

  /** As `evaluate`, with the result remembered under `key` (WasmPolicy.evaluateKeyed). */
  evaluateKeyed(
    entrypoint: Entrypoint,
    input: object,
    key: string,
  ): { result: unknown; revision: ActiveRevision } {
    const active = this.active;
    if (active === null) throw new PdpError('not_ready', 'No policy bundle is loaded');
    return { result: active.policy.evaluateKeyed(entrypoint, input, key), revision: active };
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
    const external = await this.readExternal();
    this.attemptedPrint = external.print;
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
        external.print === this.external.print &&
        this.active !== null &&
        this.lastErrorValue === null
      ) {
        // HTTP 304 and no local change: nothing to do at all.
        this.emitLoad('unchanged', this.active.revision);
        return { changed: false, revision: this.active.revision };
      }
      let accepted: AcceptedBundle;
      if (read.status === 'unchanged') {
        if (this.lastBundle === null)
          throw new PdpError('bundle_invalid', `${this.source.location}: no bundle cached`);
        accepted = this.lastBundle;
      } else {
        accepted = await acceptFiles(read.files, read.source, this.verifier);
      }
      const loaded = await loadRevision(
        accepted,
        { active: this.active, module: this.compiledModule },
        {
          dataDir: this.opts.dataDir,
          defaultTtlSeconds: this.opts.defaultTtlSeconds,
          maxTtlSeconds: this.opts.maxTtlSeconds,
          residentTenantBytes: this.opts.residentTenantBytes,
          memoEntries: this.opts.memoEntries,
          compiler: this.compiler,
          external: external.sets,
          now: this.opts.clock(),
        },
      );
      this.lastBundle = accepted;
      this.external = external;
      if (read.status === 'files') read.commit();
      this.lastErrorValue = null;
      if (loaded.status === 'unchanged') {
        this.emitLoad('unchanged', loaded.revision);
        return { changed: false, revision: loaded.revision };
      }
      const next = loaded.active;
      const previous = this.active?.revision ?? null;
      this.compiledModule = loaded.module;
      this.active = next;
      logger.info(
        {
          revision: next.revision,
          previous,
          tenants: Object.keys(next.tenants).length,
          source: accepted.bundle.source,
          ...(next.signature !== null ? { signed_by: next.signature.keyId } : {}),
        },
        'policy revision active',
      );
      for (const notice of loaded.notices) {
        logger.warn(
          notice,
          'conditional access policy with conditions the PDP cannot evaluate: reported as reportOnlyNotApplied (unsupportedCondition)',
        );
      }
      for (const listener of this.listeners) listener(next);
      this.emitLoad('success', next.revision);
      return { changed: true, revision: next.revision };
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

  /** The external documents now; when they cannot be read, the ones in service (logged). */
  private async readExternal(): Promise<{ print: string; sets: ReadonlyMap<string, ExternalTenantDocs> }> {
    if (this.opts.documents === undefined) return this.external;
    try {
      return await this.opts.documents.read();
    } catch (err) {
      this.opts.logger.warn(
        { err: describeThrown(err) },
        'external policy documents unreadable: keeping those in service',
      );
      return this.external;
    }
  }

  /** Reloads when the external documents changed since the last load (the Graph sync's trigger). */
  async reloadIfDocumentsChanged(): Promise<void> {
    if (this.opts.documents === undefined) return;
    const now = await this.opts.documents.read();
    // Against the last attempt: a set that failed to load is not retried until it changes.
    if (now.print !== this.attemptedPrint) await this.reload();
  }

  private emitLoad(outcome: LoadOutcome, revision: string | null): void {
    try {
      this.opts.onLoad?.(outcome, revision);
    } catch (err) {
      this.opts.logger.warn({ err: describeThrown(err) }, 'onLoad hook threw');
    }
  }

  /**
   * Starts the triggers of this engine's sources (source-triggers.ts): file events and polls for a
   * local bundle and the data directory, and for a remote bundle conditional GETs every
   * `pollSeconds`. Returns the function that stops them.
   */
  watch(pollSeconds: number, dataPollSeconds: number = pollSeconds): () => void {
    const remote = this.source.kind === 'remote';
    const stopLocal = watchLocal(this, {
      bundle: remote ? null : this.opts.bundle,
      dataDir: this.opts.dataDir,
      logger: this.opts.logger,
      pollSeconds,
      dataPollSeconds,
    });
    const stopRemote =
      remote && pollSeconds > 0 ? pollRemote(this, this.source, this.timers, pollSeconds * 1000) : null;
    return () => {
      stopLocal();
      stopRemote?.();
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
  private sourcePrint(depth: CheckDepth): Promise<SourcePrint> {
    return localPrint(this.source.kind !== 'remote' ? this.opts.bundle : null, this.opts.dataDir, depth);
  }
}
