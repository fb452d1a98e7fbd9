import cluster from 'node:cluster';
import path from 'node:path';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { DecisionLog, createSink, parseDecisionLogSpec } from './audit';
import { AgentTokenVerifier } from './auth/agent-tokens';
import { callerAuthFromConfig, type CallerAuth } from './auth/caller-auth';
import { PROJECT_ROOT, hasRedis, type Config } from './config';
import { decisionIds } from './decision/ids';
import { decisionLogHook, type DecisionSinks } from './decision/observer';
import { createValidators, type Validators } from './decision/validators';
import { PolicyEngine, type ExternalDocuments } from './engine/policy-engine';
import { createGraphSync, graphRedis, type GraphSyncRuntime } from './graph';
import { GraphDocumentStore } from './graph/documents';
import { Metrics } from './metrics';
import { MemoryStore } from './store/memory-store';
import { RedisLease } from './graph/lease';
import { MemoryDetectionState, RedisDetectionState } from './governance/detection-state';
import { Detector } from './governance/detections';
import { ActivityRecorder, LifecycleWorker } from './governance/lifecycle-worker';
import { createRedisClient } from './store/redis-connection';
import { RedisStore } from './store/redis-store';
import { seedStore } from './store/seed';
import type { SignalStore } from './store/types';

export const EXAMPLE_DIRECTORY = path.join(PROJECT_ROOT, 'examples/directory.json');

/**
 * What every listener of a process needs, the cluster primary's admin port included: its logger
 * and its caller authentication. Built only here, so no port can authenticate differently.
 */
export interface AdminServices {
  readonly config: Config;
  readonly logger: Logger;
  readonly auth: CallerAuth;
}

/** Everything a serving process (or a test, or a benchmark) runs decisions with. */
export interface Services extends AdminServices {
  readonly clock: () => number;
  readonly newId: (now?: number) => string;
  readonly validators: Validators;
  readonly metrics: Metrics;
  readonly verifier: AgentTokenVerifier;
  readonly store: SignalStore;
  readonly engine: PolicyEngine;
  /** The Microsoft Graph sync (PDP_GRAPH_TENANT_ID), or null when not configured. */
  readonly graph: GraphSyncRuntime | null;
  /** Agent lifecycle: the activity recorder (a decision observer) and the worker (none at interval 0). */
  readonly lifecycle: { activity: ActivityRecorder; worker: LifecycleWorker | null };
  /** Behaviour detections (PDP_DETECTIONS), null when off. */
  readonly detector: Detector | null;
  /** The decision log built from PDP_DECISION_LOG; null when `log` was given instead. */
  readonly decisionLog: DecisionLog | null;
  /** Where real decisions are recorded (the decision log's hook, or the override). */
  readonly log: DecisionSinks['log'];
  /** Writes out what the decision log accepted (within `flushMs`), then closes its connection and the store. */
  close(flushMs: number): Promise<void>;
}

/**
 * What a caller may supply instead of what the config would build: tests (in-memory store, test
 * clock, silent logger, a shared engine) and benchmarks. Caller auth and the agent-token verifier
 * always come from the config, so a test exercises the same authentication as the service.
 */
export interface ServiceOverrides {
  logger?: Logger;
  clock?: () => number;
  newId?: (now?: number) => string;
  metrics?: Metrics;
  store?: SignalStore;
  /** An engine already loaded; otherwise one is built from the config and its bundle loaded. */
  engine?: PolicyEngine;
  /** Replaces the decision log built from PDP_DECISION_LOG: a hook that sees each real decision, or null for none. */
  log?: NonNullable<DecisionSinks['log']> | null;
  /** The Graph sync runtime (tests); otherwise built from the config when PDP_GRAPH_TENANT_ID is set. */
  graph?: GraphSyncRuntime | null;
  /** A cluster worker: its file decision log gets the worker id appended. */
  clustered?: boolean;
}

function processLogger(config: Config, role: 'primary' | 'worker'): Logger {
  return pino({
    level: config.logLevel,
    base:
      role === 'primary'
        ? { service: 'agent-pdp', role: 'primary', pid: process.pid }
        : { service: 'agent-pdp', pid: process.pid },
  });
}

/** The cluster primary's services: it serves the admin port from its workers' reports. */
export function buildAdminServices(config: Config, overrides: { logger?: Logger } = {}): AdminServices {
  return {
    config,
    logger: overrides.logger ?? processLogger(config, 'primary'),
    auth: callerAuthFromConfig(config),
  };
}

/** The policy engine as the config asks for it, its loads and swaps counted in `metrics`. */
export function createEngine(
  config: Config,
  deps: { logger: Logger; clock: () => number; metrics?: Metrics; documents?: ExternalDocuments },
): PolicyEngine {
  const { metrics } = deps;
  const engine = new PolicyEngine({
    bundle: config.bundle,
    dataDir: config.dataDir,
    defaultTtlSeconds: config.defaultTtlSeconds,
    maxTtlSeconds: config.maxTtlSeconds,
    logger: deps.logger,
    clock: deps.clock,
    verifyKey: config.bundleVerifyKey,
    residentTenantBytes: config.tenantHeapMib * 2 ** 20,
    memoEntries: config.evalMemoEntries,
    documents: deps.documents,
    ...(metrics !== undefined && {
      onLoad: (outcome) => {
        metrics.bundleLoads.inc({ outcome });
      },
    }),
  });
  if (metrics !== undefined) {
    engine.onSwap((r) => {
      metrics.setRevision(r.revision);
    });
  }
  return engine;
}

async function createStore(
  config: Config,
  deps: { logger: Logger; metrics: Metrics; clock: () => number; validators: Validators },
): Promise<SignalStore> {
  const { logger, metrics } = deps;
  if (hasRedis(config)) {
    const store = await RedisStore.connect(config, {
      cacheTtlMs: config.cacheTtlMs,
      staleIfErrorMs: config.staleIfErrorSeconds * 1000,
      maxEntries: config.cacheMaxEntries,
      clock: deps.clock,
      logger,
      readBudgetMs: config.storeTimeoutMs,
      breaker: {
        threshold: config.storeBreakerThreshold,
        halfOpenMs: config.storeBreakerHalfOpenMs,
        halfOpenMaxMs: config.storeBreakerHalfOpenMaxMs,
      },
      onCacheLookup: (hits, misses) => {
        if (hits > 0) metrics.cacheLookups.inc({ result: 'hit' }, hits);
        if (misses > 0) metrics.cacheLookups.inc({ result: 'miss' }, misses);
      },
      onError: (operation) => {
        metrics.storeErrors.inc({ operation });
      },
      onFallback: (result, cause) => {
        metrics.storeReadFallbacks.inc({ result, cause });
      },
      onHealth: (health) => {
        metrics.setStoreState(health.reachable, health.breaker ?? 'closed');
      },
      onBreakerTransition: (state) => {
        metrics.storeBreakerTransitions.inc({ state });
      },
    });
    const health = await store.health();
    metrics.setStoreState(health.reachable, health.breaker ?? 'closed');
    return store;
  }
  logger.warn(
    'REDIS_URL is not set: using the IN-MEMORY store seeded with the example directory. ' +
      'Directory writes are lost on restart and not shared between processes. Do not run this in production.',
  );
  const store = new MemoryStore();
  const count = await seedStore(store, EXAMPLE_DIRECTORY, deps.validators, deps.clock());
  logger.info({ records: count, file: EXAMPLE_DIRECTORY }, 'example directory loaded');
  return store;
}

/**
 * One decision log per process. In a cluster, a file sink gets the worker id appended so two
 * processes never rotate the same file; a Redis stream gets its own connection with an offline
 * queue, since the store's client fails fast by design.
 */
function createDecisionLog(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  clustered: boolean,
): { decisionLog: DecisionLog; connection: Redis | undefined } {
  const spec = parseDecisionLogSpec(config.decisionLog);
  const workerId = cluster.worker?.id;
  let redis: Redis | undefined;
  if (spec.kind === 'redis-stream') {
    if (config.redisClusterNodes.length > 0) {
      throw new Error('PDP_DECISION_LOG=redis-stream needs REDIS_URL or Redis Sentinel, not Redis Cluster');
    }
    if (!hasRedis(config))
      throw new Error('PDP_DECISION_LOG=redis-stream needs a Redis (REDIS_URL or REDIS_SENTINELS)');
    redis = createRedisClient(config, 'subscriber') as Redis;
  }
  const sink = createSink(
    spec.kind === 'file' && clustered && workerId !== undefined
      ? { kind: 'file', path: `${spec.path}.${workerId}` }
      : spec,
    redis === undefined ? {} : { redis },
  );
  const decisionLog = new DecisionLog({
    sink,
    logger,
    maxBuffered: config.decisionLogBuffer,
    mask: config.decisionLogMask,
    labels: {
      service: 'agent-pdp',
      pid: String(process.pid),
      ...(workerId !== undefined && { worker: String(workerId) }),
    },
    onWritten: (n) => {
      metrics.decisionLogRecords.inc({ outcome: 'written' }, n);
    },
    onDropped: (n) => {
      metrics.decisionLogRecords.inc({ outcome: 'dropped' }, n);
    },
  });
  return { decisionLog, connection: redis };
}

/**
 * The one wiring of the service: engine, store, caller auth, agent-token verifier, metrics,
 * decision log, clock and ids, from the config. The worker, the tests and the benchmarks build
 * their services here; the cluster primary takes the admin part (buildAdminServices). Loads the
 * policy bundle once: a missing or bad bundle leaves the engine not ready (decisions answer 503)
 * until a watcher or a reload brings one.
 */
export async function buildServices(config: Config, overrides: ServiceOverrides = {}): Promise<Services> {
  const admin = buildAdminServices(config, { logger: overrides.logger ?? processLogger(config, 'worker') });
  const { logger } = admin;
  const clock = overrides.clock ?? Date.now;
  const newId = overrides.newId ?? decisionIds(clock);
  const validators = createValidators();
  const metrics = overrides.metrics ?? new Metrics();
  const built =
    overrides.log === undefined
      ? createDecisionLog(config, logger, metrics, overrides.clustered ?? false)
      : null;
  const decisionLog = built?.decisionLog ?? null;
  const log = decisionLog === null ? (overrides.log ?? undefined) : decisionLogHook(decisionLog);
  const store = overrides.store ?? (await createStore(config, { logger, metrics, clock, validators }));
  // The Graph sync's Redis connections; its documents are part of every load of the engine.
  const graphClients =
    overrides.graph === undefined && config.graphTenantId !== null ? await graphRedis(config) : null;
  let engine = overrides.engine;
  if (engine === undefined) {
    engine = createEngine(config, {
      logger,
      clock,
      metrics,
      ...(graphClients !== null && { documents: new GraphDocumentStore(graphClients.commands) }),
    });
    await engine.reload().catch((err: unknown) => {
      logger.error({ err: String(err) }, 'no policy bundle active; decisions answer 503 until one loads');
    });
  }
  const verifier = new AgentTokenVerifier(config.trustedIssuers, {
    clockToleranceSeconds: config.clockToleranceSeconds,
    maxTokenBytes: config.maxTokenBytes,
    cacheMaxEntries: config.tokenCacheMaxEntries,
    clock,
  });
  const graph =
    overrides.graph !== undefined
      ? overrides.graph
      : graphClients === null
        ? null
        : createGraphSync(config, { store, validators, logger, clock, metrics, redis: graphClients });
  const activity = new ActivityRecorder(store);
  activity.start(config.activityFlushMs);
  // The worker's lease needs a Redis of its own connection; with the memory store it is alone.
  const leaseClient =
    config.lifecycleIntervalSeconds > 0 && store instanceof RedisStore ? await store.connection() : null;
  const intervalMs = config.lifecycleIntervalSeconds * 1000;
  const worker =
    config.lifecycleIntervalSeconds > 0
      ? new LifecycleWorker({
          store,
          clock,
          logger,
          tenants: () => ['default', ...Object.keys(engine.current?.tenants ?? {})],
          webhook:
            config.lifecycleWebhookUrl === null
              ? null
              : { url: config.lifecycleWebhookUrl, secret: config.lifecycleWebhookSecret, timeoutMs: 5000 },
          lease:
            leaseClient === null
              ? null
              : new RedisLease(leaseClient, 'pdp:lifecycle:lease', Math.max(3 * intervalMs, 10_000), clock),
        })
      : null;
  worker?.start(intervalMs);
  // Detection counts are shared through Redis when the store is; in process otherwise.
  const detectClient = config.detections && store instanceof RedisStore ? await store.connection() : null;
  const detector = config.detections
    ? new Detector({
        store,
        state: detectClient === null ? new MemoryDetectionState() : new RedisDetectionState(detectClient),
        clock,
        logger,
        onDropped: (n) => {
          metrics.detectionEventsDropped.inc(n);
        },
      })
    : null;
  detector?.start(config.detectionsFlushMs);
  const close = async (flushMs: number): Promise<void> => {
    await detector?.stop();
    detectClient?.disconnect();
    await worker?.stop();
    leaseClient?.disconnect();
    await activity.stop().catch(() => undefined);
    await graph?.close();
    graphClients?.commands.disconnect();
    graphClients?.subscriber.disconnect();
    await decisionLog?.close(flushMs);
    built?.connection?.disconnect();
    await store.close();
  };
  return {
    ...admin,
    clock,
    newId,
    validators,
    metrics,
    verifier,
    store,
    engine,
    graph,
    lifecycle: { activity, worker },
    detector,
    decisionLog,
    log,
    close,
  };
}
