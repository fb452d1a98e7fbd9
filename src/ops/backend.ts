import type { PolicyEngine } from '../engine/policy-engine';
import type { Metrics } from '../metrics';
import type { GraphSyncControl } from '../graph/worker';
import type { SignalStore, StoreHealth } from '../store/types';

/** One process's view: what /readyz and /v1/policies report, gathered per worker in cluster mode. */
export interface WorkerStatus {
  pid: number;
  ready: boolean;
  draining: boolean;
  revision: string | null;
  store: StoreHealth;
  /** Null for a worker that could not answer (starting, hung, dying). */
  policies: PoliciesView | null;
  /** The Graph sync as /readyz shows it (no error texts: /readyz is unauthenticated); null when off. */
  graph?: GraphReadiness | null;
}

export interface GraphReadiness {
  tenant: string;
  leader_here: boolean;
  last_cycle: { kind: string; started_at: string; finished_at: string | null; outcome: string } | null;
  policy_set: { hash: string | null; rejected: boolean } | null;
  /** Per resource: when it last synced, seconds since, and whether its last attempt failed. */
  resources: Record<
    string,
    { last_success_at: string | null; staleness_seconds: number | null; failing: boolean }
  >;
}

/** The shared sync state reduced to what an unauthenticated probe may see. */
export async function graphReadiness(control: GraphSyncControl, now: number): Promise<GraphReadiness | null> {
  const state = await control.state().catch(() => null);
  if (state === null) return null;
  const resources: GraphReadiness['resources'] = {};
  if ('resources' in state) {
    for (const [name, r] of Object.entries(state.resources)) {
      const at = r.last_success_at === null ? null : Date.parse(r.last_success_at);
      resources[name] = {
        last_success_at: r.last_success_at,
        staleness_seconds: at === null ? null : Math.max(0, Math.round((now - at) / 1000)),
        failing: r.last_error !== null,
      };
    }
  }
  const c = state.last_cycle;
  return {
    tenant: state.tenant,
    leader_here: state.leader_here,
    last_cycle:
      c === null
        ? null
        : { kind: c.kind, started_at: c.started_at, finished_at: c.finished_at, outcome: c.outcome },
    policy_set:
      'policy_set' in state
        ? { hash: state.policy_set.hash, rejected: state.policy_set.rejected !== null }
        : null,
    resources,
  };
}

export interface PoliciesView {
  revision: string | null;
  bundle_revision: string | null;
  data_revision: string | null;
  loaded_at: string | null;
  entrypoints: string[];
  last_reload_error: { code: string; message: string; details: readonly unknown[] } | null;
  tenants: Record<
    string,
    {
      policies: { id: string; displayName: string; state: string }[];
      named_locations: { id: string; displayName: string; trusted: boolean }[];
      gateway_routes: number;
    }
  >;
}

/** What the admin port needs, whether it runs in the worker itself or in a cluster primary. */
export interface OpsBackend {
  statuses(): Promise<WorkerStatus[]>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export function policiesView(engine: PolicyEngine): PoliciesView {
  const active = engine.current;
  const lastError = engine.lastError;
  return {
    revision: active?.revision ?? null,
    bundle_revision: active?.bundleRevision ?? null,
    data_revision: active?.dataRevision ?? null,
    loaded_at: active?.loadedAt ?? null,
    entrypoints: active?.policy.entrypoints ?? [],
    // Operators need the full reason a reload was refused: file, policy id, pointer.
    last_reload_error:
      lastError === null
        ? null
        : { code: lastError.code, message: lastError.message, details: lastError.details },
    tenants: Object.fromEntries(
      Object.entries(active?.tenants ?? {}).map(([tenant, data]) => [
        tenant,
        {
          policies: data.policies.map((p) => ({ id: p.id, displayName: p.displayName, state: p.state })),
          named_locations: [...data.named_locations],
          gateway_routes: data.gateway_routes,
        },
      ]),
    ),
  };
}

/**
 * This process's status. Ready means "can answer decisions": a bundle is active and the process is
 * not draining (`draining` turns readiness false first on shutdown). The store's health is reported
 * but does not count: through a store outage decisions still answer as designed (stale-if-error,
 * then deny `signals_unavailable`), and a replica taken out of service would answer nothing at all.
 */
export async function localStatus(
  engine: PolicyEngine,
  store: SignalStore,
  draining: () => boolean,
  graph: GraphSyncControl | null = null,
): Promise<WorkerStatus> {
  const storeHealth = await store.health();
  const graphView = graph === null ? null : await graphReadiness(graph, Date.now());
  return {
    pid: process.pid,
    ready: engine.ready && !draining(),
    draining: draining(),
    revision: engine.current?.revision ?? null,
    store: storeHealth,
    policies: policiesView(engine),
    graph: graphView,
  };
}

/** Single-process backend: the admin app reads the engine, store and registry directly. */
export function localBackend(
  engine: PolicyEngine,
  store: SignalStore,
  metrics: Metrics,
  draining: () => boolean = () => false,
  graph: GraphSyncControl | null = null,
): OpsBackend {
  return {
    statuses: async () => [await localStatus(engine, store, draining, graph)],
    metrics: async () => ({
      contentType: metrics.registry.contentType,
      body: await metrics.registry.metrics(),
    }),
  };
}
