/** How long and how hard each scenario runs; `--short` is the CI run, the full one gives README figures. */
export interface Settings {
  mode: 'full' | 'short';
  /** Decision requests in flight at once (each loop waits for its answer). */
  concurrency: number;
  /** Load before a fault, to have a baseline and a warm cache. */
  baseline_s: number;
  /** How long Redis stays killed or stopped: longer than the stale window, so fail-closed is seen. */
  fault_s: number;
  /** Load after the fault ends, to measure recovery. */
  recovery_s: number;
  /** PDP_CACHE_TTL_MS and PDP_STALE_IF_ERROR_SECONDS for the Redis scenarios (window = their sum). */
  cache_ttl_ms: number;
  stale_if_error_s: number;
  /** After a hang starts, requests sent this much later count as "breaker open" for the p99 limit. */
  breaker_settle_s: number;
  /** Worker SIGKILLs during admin traffic. */
  worker_kills: number;
  /** Admin requests in flight at once during the kills. */
  admin_concurrency: number;
  /** Load before SIGTERM, and for the decision-log overflow. */
  sigterm_load_s: number;
  overflow_load_s: number;
  /** Idle CPU: tenants in PDP_DATA_DIR, settle time, then `idle_windows` windows of `idle_window_s`. */
  tenants: number;
  idle_settle_s: number;
  idle_windows: number;
  idle_window_s: number;
  /** Extra environment for every agent-pdp started (`--pdp-env NAME=VALUE`), applied last. */
  pdp_env: Readonly<Record<string, string>>;
}

export function settingsFor(mode: 'full' | 'short', pdpEnv: Readonly<Record<string, string>> = {}): Settings {
  const common = { cache_ttl_ms: 1000, stale_if_error_s: 2, admin_concurrency: 6, pdp_env: pdpEnv };
  return mode === 'full'
    ? {
        mode,
        ...common,
        concurrency: 8,
        baseline_s: 3,
        fault_s: 10,
        recovery_s: 5,
        breaker_settle_s: 2,
        worker_kills: 20,
        sigterm_load_s: 3,
        overflow_load_s: 4,
        tenants: 2000,
        idle_settle_s: 30,
        idle_windows: 4,
        idle_window_s: 15,
      }
    : {
        mode,
        ...common,
        concurrency: 6,
        baseline_s: 1.5,
        fault_s: 6,
        recovery_s: 3,
        breaker_settle_s: 2,
        worker_kills: 5,
        sigterm_load_s: 2,
        overflow_load_s: 2.5,
        tenants: 500,
        idle_settle_s: 8,
        idle_windows: 3,
        idle_window_s: 5,
      };
}
