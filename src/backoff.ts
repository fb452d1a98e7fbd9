import type { IBackoff, IBackoffFactory } from 'cockatiel';

/**
 * The one retry-delay shape of the PDP (bundle polls, decision-log retries, Redis reconnects, the
 * store breaker's half-open probes, worker restarts): exponential growth from a first delay,
 * capped, spread by a symmetric jitter so replicas that failed together do not retry in
 * lockstep. It is OPA's and gRPC's `DefaultBackoff` with the factor and jitter as parameters.
 */
export interface BackoffShape {
  /** The delay before the first retry, ms. */
  readonly initialMs: number;
  /** No delay exceeds it, jitter included, ms. */
  readonly maxMs: number;
  /** Growth per further retry; default 2. */
  readonly factor?: number;
  /** Spread: the delay is drawn within ± this fraction of its nominal value; default 0.2. */
  readonly jitter?: number;
}

/** Jitter source in [0, 1); injectable so tests can pin a delay. */
export type Random = () => number;

/**
 * The delay before retry `attempt` (1 = the first): min(max, initial · factor^(attempt − 1)),
 * times 1 ± jitter, never above max; whole milliseconds.
 */
export function backoffDelay(shape: BackoffShape, attempt: number, random: Random = Math.random): number {
  const { initialMs, maxMs, factor = 2, jitter = 0.2 } = shape;
  const nominal = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  return Math.round(Math.min(maxMs, nominal * (1 + jitter * (random() * 2 - 1))));
}

/** The shape as cockatiel's backoff (the store circuit breaker's half-open delay). */
export function cockatielBackoff(
  shape: BackoffShape,
  random: Random = Math.random,
): IBackoffFactory<unknown> {
  const at = (attempt: number): IBackoff<unknown> => ({
    duration: backoffDelay(shape, attempt, random),
    next: () => at(attempt + 1),
  });
  return { next: () => at(1) };
}

/** The shape as ioredis' `retryStrategy(times)` (`times` restarts at 1 after a connect). */
export function retryStrategy(shape: BackoffShape, random: Random = Math.random): (times: number) => number {
  return (times) => backoffDelay(shape, times, random);
}
