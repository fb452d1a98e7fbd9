import { backoffDelay, cockatielBackoff, retryStrategy } from '../../src/backoff';

describe('backoffDelay', () => {
  const shape = { initialMs: 100, maxMs: 1000 };

  it('doubles from the first delay up to the cap (random 0.5: no jitter)', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(shape, n, () => 0.5));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('spreads by ± 20 % by default, never above the cap', () => {
    expect(backoffDelay(shape, 1, () => 0)).toBe(80);
    expect(backoffDelay(shape, 1, () => 0.999999)).toBe(120);
    expect(backoffDelay(shape, 10, () => 0)).toBe(800);
    expect(backoffDelay(shape, 10, () => 0.999999)).toBe(1000);
  });

  it('takes a factor and a jitter (OPA: 1.6, ± 20 %; none: exact)', () => {
    const opa = { initialMs: 1000, maxMs: 10_000, factor: 1.6 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(opa, n, () => 0.5))).toEqual([
      1000, 1600, 2560, 4096, 6554,
    ]);
    const exact = { initialMs: 500, maxMs: 30_000, jitter: 0 };
    expect([1, 2, 7, 100].map((n) => backoffDelay(exact, n, Math.random))).toEqual([
      500, 1000, 30_000, 30_000,
    ]);
  });

  it('stays finite for any attempt count', () => {
    expect(backoffDelay(shape, 1e6, () => 0.5)).toBe(1000);
  });
});

describe('the same shape for cockatiel and ioredis', () => {
  it('cockatielBackoff walks the attempts from the first delay, afresh on each next() of the factory', () => {
    const factory = cockatielBackoff({ initialMs: 100, maxMs: 300 }, () => 0.5);
    const first = factory.next(undefined);
    const second = first.next(undefined);
    expect([first.duration, second.duration, second.next(undefined).duration]).toEqual([100, 200, 300]);
    expect(factory.next(undefined).duration).toBe(100);
  });

  it('retryStrategy maps ioredis `times` (1 after each connect) to the attempt', () => {
    const strategy = retryStrategy({ initialMs: 50, maxMs: 2000 }, () => 0.5);
    expect([1, 2, 3, 1].map(strategy)).toEqual([50, 100, 200, 50]);
  });
});
