import pino from 'pino';
import { OutageLog } from '../../../src/store/outage-log';

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

describe('OutageLog', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('turns a flood of per-request events into one summary line per interval', () => {
    const { logger, lines } = capture();
    const log = new OutageLog(logger, 10_000);
    for (let i = 0; i < 1000; i++) {
      log.count('stale');
      log.count('unavailable', { cause: 'breaker_open' });
    }
    expect(lines).toHaveLength(0);
    jest.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 40,
      stale: 1000,
      unavailable: 1000,
      last: { event: 'unavailable', cause: 'breaker_open' },
    });
    // A quiet interval writes nothing; the next event opens a new window.
    jest.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(1);
    log.count('read_failures', { err: 'Command timed out' });
    log.flush();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ read_failures: 1 });
    expect(lines[1]).not.toHaveProperty('stale');
  });
});
