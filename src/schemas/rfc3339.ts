/**
 * RFC 3339 `date-time` (§5.6): the one parser behind the ajv `date-time` format and every reader of
 * a timestamp that came from input (an agent's `expires_at`, what-if's `overrides.now`), so that a
 * value the schema accepts can always be read, and is read the same way everywhere. `Date.parse`
 * is not used: it rejects a leap second (NaN) and accepts many strings that are not RFC 3339.
 *
 * Accepted: `T`, `t` or a space between date and time (§5.6 NOTE), `Z`/`z` or a `±hh:mm` offset,
 * any number of fraction digits (milliseconds kept, the rest truncated), years 0000-9999. A leap
 * second (`:60`) is accepted only where one can occur, at 23:59:60 UTC, and is read as the last
 * millisecond of 23:59:59: POSIX time has no leap seconds, and this is the latest representable
 * instant that is not later than the one written (an expiry never moves later) and keeps the
 * order of timestamps.
 */

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const MINUTES_PER_DAY = 24 * 60;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Epoch milliseconds of an RFC 3339 date-time, or null when the text is not one. */
export function parseRfc3339(text: string): number | null {
  const m = DATE_TIME.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const sign = m[8] === '-' ? -1 : 1;
  const offsetHours = m[9] === undefined ? 0 : Number(m[9]);
  const offsetMinutes = m[10] === undefined ? 0 : Number(m[10]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 60 || offsetHours > 23 || offsetMinutes > 59) return null;
  const offset = sign * (offsetHours * 60 + offsetMinutes);
  let millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  let sec = second;
  if (second === 60) {
    const utcMinute = (((hour * 60 + minute - offset) % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
    if (utcMinute !== MINUTES_PER_DAY - 1) return null;
    sec = 59;
    millis = 999;
  }
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, sec, millis);
  return date.getTime() - offset * 60_000;
}

/** The ajv format's test: exactly the strings `parseRfc3339` can read. */
export function isRfc3339(text: string): boolean {
  return parseRfc3339(text) !== null;
}
