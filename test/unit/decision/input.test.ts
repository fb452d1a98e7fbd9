import { epochOf } from '../../../src/decision/input';

describe('epochOf: the expiry of a record read back from the store', () => {
  it.each([
    ['no expiry', null, null],
    ['absent', undefined, null],
    ['UTC', '2026-12-31T23:59:59Z', Date.UTC(2026, 11, 31, 23, 59, 59) / 1000],
    ['an offset', '2027-01-01T00:59:59+01:00', Date.UTC(2026, 11, 31, 23, 59, 59) / 1000],
    ['fractional seconds', '2026-12-31T23:59:59.999999Z', Date.UTC(2026, 11, 31, 23, 59, 59) / 1000],
    // POSIX time has no second of its own for it: the one after 23:59:59, not NaN (expired).
    // 23:59:59.999: an expiry never moves later (src/schemas/rfc3339.ts).
    ['a leap second', '2026-12-31T23:59:60Z', Date.UTC(2027, 0, 1) / 1000 - 1],
    ['a leap second with an offset', '2027-01-01T00:59:60+01:00', Date.UTC(2027, 0, 1) / 1000 - 1],
    ['a year before 100', '0099-01-01T00:00:00Z', -59042995200],
  ])('reads %s', (_name, value, epoch) => {
    expect(epochOf(value)).toBe(epoch);
  });

  it.each([
    ['a number', 4_102_444_800],
    ['a list', ['2099-01-01T00:00:00Z']],
    ['an object', { at: '2099-01-01T00:00:00Z' }],
    ['words', 'January 1, 2099'],
    ['a date without a time', '2099-01-01'],
    ['an impossible date', '2099-02-30T00:00:00Z'],
    ['an empty string', ''],
  ])('reads %s as already expired (fail closed)', (_name, value) => {
    expect(epochOf(value)).toBe(0);
  });
});
