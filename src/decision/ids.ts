import { getRandomValues } from 'node:crypto';
import { monotonicFactory } from 'ulid';

const POOL_SIZE = 4096;

/**
 * ulid's default PRNG makes one crypto call per character (16 per id), which showed as ~5 % of
 * the decide path's CPU profile. This draws from a pool of CSPRNG words refilled 4096 at a time.
 */
export function pooledRandom(): () => number {
  const pool = new Uint32Array(POOL_SIZE);
  let next = POOL_SIZE;
  return () => {
    if (next === POOL_SIZE) {
      getRandomValues(pool);
      next = 0;
    }
    return (pool[next++] ?? 0) / 0x1_0000_0000;
  };
}

/**
 * Decision ids: ULIDs (time-sortable), monotonic within a millisecond. A decision passes the time
 * it already read, so it reads the clock once; without one, `clock` is read.
 */
export function decisionIds(clock: () => number): (now?: number) => string {
  const ulid = monotonicFactory(pooledRandom());
  return (now) => ulid(now ?? clock());
}
