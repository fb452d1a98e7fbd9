import autocannon from 'autocannon';

export interface LoadTarget {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Per-request rewrite, e.g. a fresh token for every request. */
  setupRequest?: autocannon.Request['setupRequest'];
  /** Statuses that count as success (others are reported and fail the run). */
  okStatus?: number;
}

export interface LoadFigure {
  name: string;
  rps: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  latency_mean_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  connections: number;
  duration_s: number;
  rate_limit: number | null;
}

export async function load(
  target: LoadTarget,
  opts: { connections: number; durationSeconds: number; warmupSeconds: number; overallRate?: number },
): Promise<LoadFigure> {
  const request: autocannon.Request = {
    method: target.method,
    ...(target.headers !== undefined && { headers: target.headers }),
    ...(target.body !== undefined && { body: target.body }),
    ...(target.setupRequest !== undefined && { setupRequest: target.setupRequest }),
  };
  const result = await autocannon({
    url: target.url,
    connections: opts.connections,
    duration: opts.durationSeconds,
    requests: [request],
    ...(opts.overallRate !== undefined && { overallRate: opts.overallRate }),
    ...(opts.warmupSeconds > 0 && {
      warmup: { connections: opts.connections, duration: opts.warmupSeconds },
    }),
  });
  return {
    name: target.name,
    rps: result.requests.average,
    latency_p50_ms: result.latency.p50,
    latency_p99_ms: result.latency.p99,
    latency_mean_ms: result.latency.average,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    connections: opts.connections,
    duration_s: opts.durationSeconds,
    rate_limit: opts.overallRate ?? null,
  };
}
