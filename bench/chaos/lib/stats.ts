import type { Sample } from './traffic';

/** Nearest-rank percentile of unsorted values; null for none. */
export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? null;
}

export interface Summary {
  requests: number;
  /** HTTP status → count; "error" for requests that got no HTTP answer. */
  status: Record<string, number>;
  allow: number;
  deny: number;
  degraded: number;
  errors: number;
  server_errors_5xx: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export function summarize(samples: readonly Sample[]): Summary {
  const status: Record<string, number> = {};
  let allow = 0;
  let deny = 0;
  let degraded = 0;
  let errors = 0;
  let server = 0;
  for (const s of samples) {
    const key = s.error !== null ? 'error' : String(s.status);
    status[key] = (status[key] ?? 0) + 1;
    if (s.decision === 'allow') allow++;
    if (s.decision === 'deny') deny++;
    if (s.degraded) degraded++;
    if (s.error !== null) errors++;
    if (s.status >= 500) server++;
  }
  const latencies = samples.filter((s) => s.error === null).map((s) => s.ms);
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);
  return {
    requests: samples.length,
    status,
    allow,
    deny,
    degraded,
    errors,
    server_errors_5xx: server,
    p50_ms: round(percentile(latencies, 0.5)),
    p99_ms: round(percentile(latencies, 0.99)),
    max_ms: round(latencies.length === 0 ? null : latencies.reduce((a, b) => Math.max(a, b), 0)),
  };
}

/** Samples whose request was sent in [from, to). */
export function between(samples: readonly Sample[], from: number, to = Infinity): Sample[] {
  return samples.filter((s) => s.start >= from && s.start < to);
}
