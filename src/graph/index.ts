import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Validators } from '../decision/validators';
import { TenantDataCompiler } from '../engine/tenant-data';
import type { Metrics } from '../metrics';
import { connectWithin, createRedisClient, type RedisClient } from '../store/redis-connection';
import type { SignalStore } from '../store/types';
import { GraphClient } from './client';
import { GraphDocumentStore, watchDocuments } from './documents';
import { RedisLease } from './lease';
import { GraphSync } from './sync';
import { TokenProvider, type ClientCredential } from './token';
import { GraphSyncControl, GraphSyncWorker, type SyncWorkerOptions } from './worker';

export { GraphDocumentStore } from './documents';
export { GraphSyncControl, GraphSyncWorker } from './worker';

export type GraphSettings = Pick<
  Config,
  | 'graphTenantId'
  | 'graphPdpTenant'
  | 'graphClientId'
  | 'graphClientSecret'
  | 'graphClientCertificate'
  | 'graphClientKey'
  | 'graphAuthorityUrl'
  | 'graphBaseUrl'
  | 'graphSyncIntervalSeconds'
  | 'graphFullSyncIntervalSeconds'
  | 'graphDelta'
  | 'graphLeaseSeconds'
  | 'graphTimeoutMs'
  | 'graphConcurrency'
  | 'graphMaxRetries'
>;

/** The lease key: one per Entra tenant synced into one PDP tenant. */
export const leaseKey = (tenant: string): string => `pdp:{${tenant}}:graph:lease`;

/** What a replica runs of the sync: the worker (contending for the lease) and the shared control. */
export interface GraphSyncRuntime {
  readonly worker: GraphSyncWorker;
  readonly control: GraphSyncControl;
  readonly documents: GraphDocumentStore;
  /** Starts contending for the lease, and reloading `engine` on a new document set. */
  start(reload: () => Promise<void>): void;
  close(): Promise<void>;
}

export interface GraphDeps {
  store: SignalStore;
  validators: Validators;
  logger: Logger;
  clock: () => number;
  metrics?: Metrics | undefined;
  /** Redis connections (tests); otherwise built from the config's topology. */
  redis?: { commands: RedisClient; subscriber: RedisClient } | undefined;
  /** Tests observe cycles. */
  onCycle?: SyncWorkerOptions['onCycle'];
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

/** The credential of the config: a client secret, or a certificate and its key. */
function credential(s: GraphSettings): ClientCredential {
  if (s.graphClientSecret !== null) return { kind: 'secret', secret: s.graphClientSecret };
  return {
    kind: 'certificate',
    certificatePem: s.graphClientCertificate ?? '',
    keyPem: s.graphClientKey ?? '',
  };
}

/** Start-up's wait for the sync's Redis clients (a Cluster's slot discovery takes seconds under load). */
const GRAPH_REDIS_CONNECT_MS = 10_000;

/** The Redis clients the sync needs, connected. */
export async function graphRedis(
  config: Config,
): Promise<{ commands: RedisClient; subscriber: RedisClient }> {
  const commands = createRedisClient(config, 'commands');
  const subscriber = createRedisClient(config, 'subscriber');
  const ready = await Promise.all(
    [commands, subscriber].map((c) => connectWithin(c, GRAPH_REDIS_CONNECT_MS)),
  );
  if (!ready.every(Boolean)) {
    commands.disconnect();
    subscriber.disconnect();
    throw new Error('Redis is not reachable: the Graph sync keeps its documents there');
  }
  return { commands, subscriber };
}

/** The engine's view of the synced documents only (every replica, leader or not). */
export function graphDocuments(redis: RedisClient): GraphDocumentStore {
  return new GraphDocumentStore(redis);
}

export function createGraphSync(
  settings: GraphSettings,
  deps: GraphDeps & { redis: { commands: RedisClient; subscriber: RedisClient } },
): GraphSyncRuntime {
  const tenantId = settings.graphTenantId ?? '';
  const { metrics, logger, clock } = deps;
  const graphBase = new URL(
    settings.graphBaseUrl.endsWith('/') ? settings.graphBaseUrl : `${settings.graphBaseUrl}/`,
  );
  const tokens = new TokenProvider({
    tokenUrl: `${settings.graphAuthorityUrl.replace(/\/+$/, '')}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`,
    clientId: settings.graphClientId ?? '',
    credential: credential(settings),
    scope: `${graphBase.origin}/.default`,
    timeoutMs: settings.graphTimeoutMs,
    clock,
    ...(deps.fetch !== undefined && { fetch: deps.fetch }),
  });
  const graph = new GraphClient({
    baseUrl: graphBase.href,
    tokens,
    timeoutMs: settings.graphTimeoutMs,
    concurrency: settings.graphConcurrency,
    maxRetries: settings.graphMaxRetries,
    onThrottle: (status) => metrics?.graphThrottles.inc({ status: String(status) }),
    ...(deps.fetch !== undefined && { fetch: deps.fetch }),
    ...(deps.sleep !== undefined && { sleep: deps.sleep }),
  });
  const { commands, subscriber } = deps.redis;
  const tenant = settings.graphPdpTenant;
  const leaseMs = settings.graphLeaseSeconds * 1000;
  const lease = new RedisLease(commands, leaseKey(tenant), leaseMs, clock);
  const documents = new GraphDocumentStore(commands);
  let worker: GraphSyncWorker | null = null;
  const sync = new GraphSync({
    graph,
    store: deps.store,
    redis: commands,
    documents,
    compiler: new TenantDataCompiler(),
    validators: deps.validators,
    tenant,
    clock,
    logger,
    isLeader: () => worker?.isLeader ?? false,
    concurrency: settings.graphConcurrency,
    delta: settings.graphDelta,
    hooks: {
      onResource: (resource, outcome, objects, at) => metrics?.graphSynced(resource, outcome, objects, at),
    },
  });
  worker = new GraphSyncWorker({
    sync,
    lease,
    redis: commands,
    tenant,
    intervalMs: settings.graphSyncIntervalSeconds * 1000,
    fullIntervalMs: settings.graphFullSyncIntervalSeconds * 1000,
    leaseMs,
    clock,
    logger,
    onLeadership: (leader) => metrics?.graphLeader.set(leader ? 1 : 0),
    ...(deps.onCycle !== undefined && { onCycle: deps.onCycle }),
  });
  const control = new GraphSyncControl(commands, tenant, worker);
  let stopWatch: (() => void) | null = null;
  const w = worker;
  return {
    worker: w,
    control,
    documents,
    start(reload) {
      stopWatch = watchDocuments(
        subscriber,
        reload,
        Math.max(1000, Math.min(30_000, settings.graphSyncIntervalSeconds * 1000)),
      );
      w.start();
    },
    async close() {
      stopWatch?.();
      await w.stop();
    },
  };
}
