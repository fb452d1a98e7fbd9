import { decodeTime, isValid } from 'ulid';
import { decisionIds, pooledRandom } from '../../../src/decision/ids';

describe('decision ids', () => {
  it('are valid, unique, time-sortable ULIDs carrying the clock', () => {
    let now = Date.parse('2026-11-27T12:00:00Z');
    const next = decisionIds(() => now);
    const ids = Array.from({ length: 10_000 }, (_, i) => {
      if (i % 1000 === 0) now += 1;
      return next();
    });
    expect(ids.every((id) => isValid(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(decodeTime(ids.at(-1)!)).toBe(now);
  });

  it('draws uniformly spread values in [0, 1) across pool refills', () => {
    const random = pooledRandom();
    const values = Array.from({ length: 20_000 }, random);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(new Set(values).size).toBeGreaterThan(19_900);
  });
});
