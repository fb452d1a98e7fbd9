import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Decision latencies are sub-millisecond when warm; buckets resolve 50 µs to 1 s. */
const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

export type Endpoint = 'decide' | 'decide_batch' | 'whatif' | 'authorize' | 'authzen';

/**
 * Every metric the service exports, on a registry of its own (never prom-client's global one) so
 * two apps can live in one test process. Names follow Prometheus conventions: base units
 * (seconds), `_total` counters.
 */
export class Metrics {
  readonly registry: Registry;
  readonly decisionDuration: Histogram<'endpoint' | 'decision'>;
  readonly policyEvalDuration: Histogram<'entrypoint'>;
  readonly cacheLookups: Counter<'result'>;
  readonly storeErrors: Counter<'operation'>;
  readonly degradedDecisions: Counter<'endpoint'>;
  readonly storeUp: Gauge;
  readonly storeBreakerState: Gauge<'state'>;
  readonly storeBreakerTransitions: Counter<'state'>;
  readonly storeReadFallbacks: Counter<'result' | 'cause'>;
  readonly bundleInfo: Gauge<'revision'>;
  readonly bundleLoads: Counter<'outcome'>;
  readonly decisionLogRecords: Counter<'outcome'>;
  readonly detectionEventsDropped: Counter;
  readonly graphLastSuccess: Gauge<'resource'>;
  readonly graphObjects: Gauge<'resource'>;
  readonly graphSyncs: Counter<'resource' | 'outcome'>;
  readonly graphThrottles: Counter<'status'>;
  readonly graphStaleness: Gauge<'resource'>;
  readonly graphLeader: Gauge;
  /** Epoch ms of each Graph resource's last successful sync, for the staleness gauge. */
  private readonly graphSuccessAt = new Map<string, number>();

  constructor(opts: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    this.registry = new Registry();
    if (opts.labels !== undefined) this.registry.setDefaultLabels(opts.labels);
    const registers = [this.registry];
    this.decisionDuration = new Histogram({
      name: 'pdp_decision_duration_seconds',
      help: 'Time to answer a decision request, from routing to response, by endpoint and decision.',
      labelNames: ['endpoint', 'decision'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.policyEvalDuration = new Histogram({
      name: 'pdp_policy_eval_duration_seconds',
      help: 'Time spent in the WASM policy evaluation, by entrypoint.',
      labelNames: ['entrypoint'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'pdp_signal_cache_lookups_total',
      help: 'Signal cache lookups by result (hit, miss).',
      labelNames: ['result'],
      registers,
    });
    this.storeErrors = new Counter({
      name: 'pdp_store_errors_total',
      help: 'Failed signal store operations, by operation (read, write).',
      labelNames: ['operation'],
      registers,
    });
    this.degradedDecisions = new Counter({
      name: 'pdp_degraded_decisions_total',
      help: 'Decisions made on stale signals (stale-if-error) or with signals unavailable.',
      labelNames: ['endpoint'],
      registers,
    });
    this.storeUp = new Gauge({
      name: 'pdp_store_up',
      help: 'Signal store reachable (connected, circuit breaker closed): 1, else 0. Across workers: the minimum.',
      aggregator: 'min',
      registers,
    });
    this.storeBreakerState = new Gauge({
      name: 'pdp_store_breaker_state',
      help: 'Signal store circuit breaker state: 1 on the current state (closed, open, half_open). Across workers: how many are in each.',
      labelNames: ['state'],
      registers,
    });
    this.storeBreakerTransitions = new Counter({
      name: 'pdp_store_breaker_transitions_total',
      help: 'Signal store circuit breaker transitions, by the state entered.',
      labelNames: ['state'],
      registers,
    });
    this.storeReadFallbacks = new Counter({
      name: 'pdp_store_read_fallbacks_total',
      help: 'Decision reads the store did not answer, by result (stale: served from cache, degraded; unavailable: failed closed) and cause (breaker_open, timeout, error, corrupt).',
      labelNames: ['result', 'cause'],
      registers,
    });
    this.setStoreState(true, 'closed');
    this.bundleInfo = new Gauge({
      name: 'pdp_bundle_info',
      help: 'The active policy revision (bundle+data); summed across workers, the value counts the workers on it.',
      labelNames: ['revision'],
      registers,
    });
    this.bundleLoads = new Counter({
      name: 'pdp_bundle_loads_total',
      help: 'Policy bundle and data load attempts by outcome (success, failure, unchanged).',
      labelNames: ['outcome'],
      registers,
    });
    this.decisionLogRecords = new Counter({
      name: 'pdp_decision_log_records_total',
      help: 'Decision log records by outcome (written, dropped).',
      labelNames: ['outcome'],
      registers,
    });
    this.detectionEventsDropped = new Counter({
      name: 'pdp_detection_events_dropped_total',
      help: 'Decision events the behaviour detector dropped because its queue was full.',
      registers,
    });
    this.graphLastSuccess = new Gauge({
      name: 'pdp_graph_sync_last_success_timestamp_seconds',
      help: 'When each Microsoft Graph resource last synced successfully (Unix seconds). Across workers: the latest.',
      labelNames: ['resource'],
      aggregator: 'max',
      registers,
    });
    this.graphObjects = new Gauge({
      name: 'pdp_graph_sync_objects',
      help: 'Objects the last successful sync of each Graph resource read (changed objects for a delta). Across workers: the largest.',
      labelNames: ['resource'],
      aggregator: 'max',
      registers,
    });
    this.graphSyncs = new Counter({
      name: 'pdp_graph_sync_total',
      help: 'Graph resource syncs by resource and outcome (success, failure).',
      labelNames: ['resource', 'outcome'],
      registers,
    });
    this.graphThrottles = new Counter({
      name: 'pdp_graph_throttled_total',
      help: 'Graph answers that asked the sync to slow down (429, 503), by status.',
      labelNames: ['status'],
      registers,
    });
    const successAt = this.graphSuccessAt;
    this.graphStaleness = new Gauge({
      name: 'pdp_graph_sync_staleness_seconds',
      help: 'Seconds since each Graph resource last synced successfully, on the syncing replica. Across workers: the smallest.',
      labelNames: ['resource'],
      aggregator: 'min',
      registers,
      collect() {
        const now = Date.now();
        for (const [resource, at] of successAt) this.set({ resource }, Math.max(0, (now - at) / 1000));
      },
    });
    this.graphLeader = new Gauge({
      name: 'pdp_graph_sync_leader',
      help: 'This process holds the Graph sync lease: 1, else 0. Across workers: how many (0 or 1 per deployment).',
      registers,
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'pdp_' });
  }

  /** The store's reachability and breaker state (every state's series present, the current one 1). */
  setStoreState(reachable: boolean, breaker: 'closed' | 'open' | 'half_open'): void {
    this.storeUp.set(reachable ? 1 : 0);
    for (const state of ['closed', 'open', 'half_open'] as const) {
      this.storeBreakerState.set({ state }, state === breaker ? 1 : 0);
    }
  }

  /** One Graph resource's sync outcome. */
  graphSynced(resource: string, outcome: 'success' | 'failure', objects: number, at: number): void {
    this.graphSyncs.inc({ resource, outcome });
    if (outcome !== 'success') return;
    this.graphSuccessAt.set(resource, at);
    this.graphLastSuccess.set({ resource }, at / 1000);
    this.graphObjects.set({ resource }, objects);
  }

  /** Marks `revision` as the only active one. */
  setRevision(revision: string): void {
    this.bundleInfo.reset();
    this.bundleInfo.set({ revision }, 1);
  }
}
