import { createAjv } from '../../../src/schemas/ajv';
import { isRfc3339, parseRfc3339 } from '../../../src/schemas/rfc3339';

describe('parseRfc3339: the one parser behind the date-time format and every reader', () => {
  it.each([
    ['2026-11-27T12:00:00Z', '2026-11-27T12:00:00.000Z'],
    ['2026-11-27t12:00:00z', '2026-11-27T12:00:00.000Z'],
    ['2026-11-27 12:00:00Z', '2026-11-27T12:00:00.000Z'],
    ['2026-11-27T12:00:00.1234567Z', '2026-11-27T12:00:00.123Z'],
    ['2026-11-27T13:30:00+01:30', '2026-11-27T12:00:00.000Z'],
    ['2026-11-27T00:00:00-05:00', '2026-11-27T05:00:00.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0099-06-01T00:00:00Z', '0099-06-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59Z', '9999-12-31T23:59:59.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(new Date(parseRfc3339(text)!).toISOString()).toBe(iso);
  });

  it.each([
    ['2026-12-31T23:59:60Z', '2026-12-31T23:59:59.999Z'],
    ['2026-12-31T23:59:60.5Z', '2026-12-31T23:59:59.999Z'],
    ['2027-01-01T00:59:60+01:00', '2026-12-31T23:59:59.999Z'],
    ['2026-12-31T18:59:60-05:00', '2026-12-31T23:59:59.999Z'],
  ])('reads the leap second %s as the last millisecond before it (%s), never NaN', (text, iso) => {
    expect(new Date(parseRfc3339(text)!).toISOString()).toBe(iso);
  });

  it.each([
    '2026-12-31T12:00:60Z', // :60 only where a leap second can be, at 23:59:60 UTC
    '2026-12-31T23:59:60+01:00',
    '2026-12-31T23:59:61Z',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T00:60:00Z',
    '2026-01-01T00:00:00+24:00',
    '2026-01-01T00:00:00+01:60',
    '2026-01-01T00:00:00+0100',
    '2026-01-01T00:00:00',
    '2026-01-01T00:00Z',
    '2026-01-01',
    '+002026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.Z',
    '2026-01-01T00:00:00Z ',
    ' 2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00Z\n',
    'Thu, 01 Jan 2026 00:00:00 GMT',
    '1767225600',
    '',
  ])('refuses %j', (text) => {
    expect(parseRfc3339(text)).toBeNull();
    expect(isRfc3339(text)).toBe(false);
  });

  it('is the date-time format of every schema: the format accepts exactly what the readers parse', () => {
    const validate = createAjv().compile({ type: 'string', format: 'date-time' });
    for (const text of ['2026-12-31T23:59:60Z', '2026-11-27T12:00:00Z', '2026-12-31T12:00:60Z', 'x']) {
      expect(validate(text)).toBe(parseRfc3339(text) !== null);
    }
    // ajv-formats' date-time accepted this leap second while Date.parse gave NaN.
    expect(Number.isNaN(Date.parse('2026-12-31T23:59:60Z'))).toBe(true);
  });
});
