import pino from 'pino';
import { DecisionLog, type DecisionLogOptions, type DropReason } from '../../../src/audit/decision-log';
import type { DecisionRecord } from '../../../src/audit/record';
import { PartialWriteError, type DecisionLogSink } from '../../../src/audit/sink';
import { PdpError } from '../../../src/errors';

/** An in-memory sink whose failures and stalls the test controls. */
class MemorySink implements DecisionLogSink {
  lines: string[] = [];
  batches: number[] = [];
  attempts = 0;
  closed = false;
  /** The next n writes fail. */
  failures = 0;
  /** The next write gets only this many lines through, then fails. */
  partial: number | null = null;
  /** While set, writes wait on it. */
  gate: Promise<void> | null = null;

  async write(lines: string[]): Promise<void> {
    this.attempts++;
    if (this.gate !== null) await this.gate;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('collector down');
    }
    if (this.partial !== null) {
      const n = this.partial;
      this.partial = null;
      this.lines.push(...lines.slice(0, n));
      throw new PartialWriteError('half way', lines.slice(n));
    }
    this.lines.push(...lines);
    this.batches.push(lines.length);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function capture() {
  const entries: Record<string, any>[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => entries.push(JSON.parse(s)) });
  return { logger, entries, warnings: (msg: string) => entries.filter((e) => e['msg'] === msg) };
}

class Clock {
  ms = 1_000_000;
  readonly now = (): number => this.ms;
}

let seq = 0;
function rec(input: unknown = { request: { agent_id: 'agt-1' } }): DecisionRecord {
  seq++;
  return {
    decision_id: `d-${seq}`,
    timestamp: '2026-11-27T12:00:00.000Z',
    endpoint: 'decide',
    tenant: 'default',
    caller: null,
    input,
    result: { decision: 'deny', grant: null },
    reasons: [{ code: 'agent_not_found' }],
    policies: [],
    revision: 'b+d',
    latency_ms: 1,
  };
}

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('DecisionLog', () => {
  const logs: DecisionLog[] = [];
  function open(sink: DecisionLogSink | null, opts: Partial<DecisionLogOptions> = {}) {
    const written: number[] = [];
    const dropped: [number, DropReason][] = [];
    const log = new DecisionLog({
      sink,
      logger: pino({ level: 'silent' }),
      retryBaseMs: 1,
      retryMaxMs: 5,
      onWritten: (n) => written.push(n),
      onDropped: (n, reason) => dropped.push([n, reason]),
      ...opts,
    });
    logs.push(log);
    return { log, written, dropped };
  }
  afterEach(async () => {
    await Promise.all(logs.splice(0).map((l) => l.close(200)));
  });

  it('log() returns before anything is written, then full batches go out on their own', async () => {
    const sink = new MemorySink();
    const { log, written } = open(sink, { batchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 7; i++) log.log(rec());
    expect(sink.attempts).toBe(0);
    await until(() => sink.lines.length === 6);
    expect(sink.batches).toEqual([3, 3]);
    expect(written).toEqual([3, 3]);
    expect(log.stats().buffered).toBe(1);
  });

  it('writes a partial batch when the flush interval passes', async () => {
    const sink = new MemorySink();
    const { log } = open(sink, { batchSize: 100, flushIntervalMs: 20 });
    log.log(rec());
    log.log(rec());
    await until(() => sink.lines.length === 2);
    expect(sink.batches).toEqual([2]);
  });

  it('flush() resolves once everything logged before it is written', async () => {
    const sink = new MemorySink();
    const { log } = open(sink, { batchSize: 4, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) log.log(rec());
    await expect(log.flush()).resolves.toBe(true);
    expect(sink.lines).toHaveLength(10);
    expect(sink.lines.map((l) => (JSON.parse(l) as DecisionRecord).decision_id)).toEqual([
      ...new Set(sink.lines.map((l) => (JSON.parse(l) as DecisionRecord).decision_id)),
    ]);
    expect(log.stats()).toEqual({
      buffered: 0,
      written: 10,
      dropped: { overflow: 0, sink_error: 0, unserializable: 0, closed: 0, shutdown: 0 },
    });
  });

  it('counts, reports and warns about overflow, once per interval, with the count', async () => {
    const sink = new MemorySink();
    const stalled = gate();
    sink.gate = stalled.promise;
    const clock = new Clock();
    const { logger, warnings } = capture();
    const { log, dropped } = open(sink, {
      maxBuffered: 4,
      batchSize: 4,
      flushIntervalMs: 60_000,
      warnIntervalMs: 1000,
      clock: clock.now,
      logger,
    });
    for (let i = 0; i < 4; i++) log.log(rec());
    await until(() => sink.attempts === 1); // 4 in flight, buffer empty
    for (let i = 0; i < 4; i++) log.log(rec()); // buffer full again
    expect(() => {
      for (let i = 0; i < 3; i++) log.log(rec());
    }).not.toThrow();

    expect(dropped).toEqual([
      [1, 'overflow'],
      [1, 'overflow'],
      [1, 'overflow'],
    ]);
    expect(log.stats().dropped.overflow).toBe(3);
    // The first drop warns at once; the next two wait for the interval.
    expect(warnings('decision log dropped records')).toHaveLength(1);
    expect(warnings('decision log dropped records')[0]).toMatchObject({ dropped: 1, total_dropped: 1 });

    clock.ms += 1000;
    log.log(rec());
    const all = warnings('decision log dropped records');
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({ dropped: 3, reasons: { overflow: 3 }, total_dropped: 4 });

    stalled.open();
    sink.gate = null;
    await log.flush();
    expect(sink.lines).toHaveLength(8);
    expect(log.stats().written + log.stats().dropped.overflow).toBe(12);
  });

  it('reports drops left over from a quiet interval on the next tick, without a new drop', async () => {
    const sink = new MemorySink();
    const stalled = gate();
    sink.gate = stalled.promise;
    const clock = new Clock();
    const { logger, warnings } = capture();
    const { log } = open(sink, {
      maxBuffered: 1,
      batchSize: 1,
      flushIntervalMs: 10,
      warnIntervalMs: 1000,
      clock: clock.now,
      logger,
    });
    log.log(rec());
    await until(() => sink.attempts === 1);
    log.log(rec());
    log.log(rec()); // warned at once
    log.log(rec()); // counted, not yet warned
    expect(warnings('decision log dropped records')).toHaveLength(1);
    clock.ms += 1000;
    await until(() => warnings('decision log dropped records').length === 2);
    expect(warnings('decision log dropped records')[1]).toMatchObject({ dropped: 1, total_dropped: 2 });
    stalled.open();
  });

  it('retries a failed batch with backoff, then counts it as dropped', async () => {
    const sink = new MemorySink();
    sink.failures = Number.POSITIVE_INFINITY;
    const { logger, warnings } = capture();
    const { log, dropped, written } = open(sink, { batchSize: 10, maxAttempts: 3, logger });
    for (let i = 0; i < 4; i++) log.log(rec());
    await expect(log.flush()).resolves.toBe(true);
    expect(sink.attempts).toBe(3);
    expect(written).toEqual([]);
    expect(dropped).toEqual([[4, 'sink_error']]);
    expect(log.stats().dropped.sink_error).toBe(4);
    expect(warnings('decision log sink write failed; retrying')[0]).toMatchObject({
      err: 'collector down',
      attempt: 1,
      max_attempts: 3,
    });
    expect(warnings('decision log dropped records')[0]).toMatchObject({
      dropped: 4,
      reasons: { sink_error: 4 },
      last_error: 'collector down',
    });
  });

  it('delivers after transient failures without losing or duplicating a record', async () => {
    const sink = new MemorySink();
    sink.failures = 2;
    const { log, dropped } = open(sink, { batchSize: 10, maxAttempts: 5 });
    for (let i = 0; i < 6; i++) log.log(rec());
    await log.flush();
    expect(sink.attempts).toBe(3);
    expect(sink.lines).toHaveLength(6);
    expect(dropped).toEqual([]);
  });

  it('retries only the unwritten part of a partial write', async () => {
    const sink = new MemorySink();
    sink.partial = 3;
    const { log, written } = open(sink, { batchSize: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = rec();
      ids.push(r.decision_id);
      log.log(r);
    }
    await log.flush();
    expect(written).toEqual([3, 2]);
    expect(sink.lines.map((l) => (JSON.parse(l) as DecisionRecord).decision_id)).toEqual(ids);
  });

  it('drops (and counts) a record that cannot be serialized, and writes the others', async () => {
    const sink = new MemorySink();
    const { log, dropped } = open(sink, { batchSize: 10 });
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    log.log(rec());
    log.log(rec({ n: 10n }));
    log.log(rec(cyclic));
    log.log(rec());
    await log.flush();
    expect(sink.lines).toHaveLength(2);
    expect(dropped).toEqual([[2, 'unserializable']]);
  });

  it('masks records and stamps the configured labels on the way out', async () => {
    const sink = new MemorySink();
    const { log } = open(sink, {
      labels: { service: 'agent-pdp', pid: '42', worker: '1' },
      mask: ['/input/request/user/id'],
    });
    const input = { request: { user: { id: 'u-1' }, context: { token: 'secret', ticket: 't' } } };
    const own = rec(input);
    own.labels = { service: 'other' };
    log.log(rec(input));
    log.log(own);
    await log.flush();
    const [first, second] = sink.lines.map((l) => JSON.parse(l) as DecisionRecord);
    expect(first?.input).toEqual({ request: { user: {}, context: { ticket: 't' } } });
    expect(first?.erased).toEqual(['/input/request/context/token', '/input/request/user/id']);
    expect(first?.labels).toEqual({ service: 'agent-pdp', pid: '42', worker: '1' });
    expect(second?.labels).toEqual({ service: 'other' });
    expect(input.request.context.token).toBe('secret');
    expect(log.maskedPointers).toContain('/input/request/user/id');
  });

  it('keeps logging when a counter callback throws', async () => {
    const sink = new MemorySink();
    const { log } = open(sink, {
      onWritten: () => {
        throw new Error('metrics broke');
      },
    });
    expect(() => {
      log.log(rec());
    }).not.toThrow();
    await log.flush();
    log.log(rec());
    await log.flush();
    expect(sink.lines).toHaveLength(2);
  });

  it('close() drains the buffer, closes the sink, and counts what arrives afterwards', async () => {
    const sink = new MemorySink();
    const { logger, warnings } = capture();
    const { log, dropped } = open(sink, { batchSize: 3, flushIntervalMs: 60_000, logger });
    for (let i = 0; i < 8; i++) log.log(rec());
    await log.close();
    expect(sink.lines).toHaveLength(8);
    expect(sink.closed).toBe(true);
    log.log(rec());
    expect(dropped).toEqual([[1, 'closed']]);
    expect(warnings('decision log dropped records')[0]).toMatchObject({ reasons: { closed: 1 } });
    await expect(log.close()).resolves.toBeUndefined();
  });

  it('close() keeps its deadline when the sink hangs, and counts what it abandons', async () => {
    const sink = new MemorySink();
    sink.gate = new Promise(() => undefined); // never answers
    const { logger, warnings } = capture();
    const { log, dropped } = open(sink, { batchSize: 2, flushIntervalMs: 60_000, logger });
    for (let i = 0; i < 6; i++) log.log(rec());
    await until(() => sink.attempts === 1);
    const started = Date.now();
    await log.close(100);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(dropped).toEqual([[4, 'shutdown']]);
    expect(sink.closed).toBe(true);
    expect(warnings('decision log close deadline passed before the buffer drained')[0]).toMatchObject({
      buffered_dropped: 4,
      in_flight: 2,
    });
    expect(warnings('decision log dropped records')[0]).toMatchObject({ reasons: { shutdown: 4 } });
  });

  it('close() stops retrying at its deadline and counts the batch as dropped', async () => {
    const sink = new MemorySink();
    sink.failures = Number.POSITIVE_INFINITY;
    const { log, dropped } = open(sink, { maxAttempts: 1000, retryBaseMs: 50, retryMaxMs: 50 });
    for (let i = 0; i < 5; i++) log.log(rec());
    await log.close(120);
    await until(() => dropped.length > 0);
    expect(dropped).toEqual([[5, 'shutdown']]);
    expect(log.stats().written).toBe(0);
  });

  it('is a no-op without a sink (off)', async () => {
    const { log, dropped } = open(null);
    expect(log.enabled).toBe(false);
    log.log(rec());
    expect(log.stats().buffered).toBe(0);
    await expect(log.flush()).resolves.toBe(true);
    await log.close();
    log.log(rec());
    expect(dropped).toEqual([]);
  });

  it('does not keep the process alive with its flush timer', () => {
    const { log } = open(new MemorySink());
    expect((log as any).timer.hasRef()).toBe(false);
  });

  it('accepts a buffer smaller than the default batch (PDP_DECISION_LOG_BUFFER=100 stopped the start)', async () => {
    const sink = new MemorySink();
    const { log } = open(sink, { maxBuffered: 100, flushIntervalMs: 60_000 });
    for (let i = 0; i < 100; i++) log.log(rec());
    await until(() => sink.lines.length === 100);
    expect(Math.max(...sink.batches)).toBeLessThanOrEqual(100);
  });

  it('refuses bad options when constructed', () => {
    const logger = pino({ level: 'silent' });
    const sink = new MemorySink();
    expect(() => new DecisionLog({ sink, logger, batchSize: 20, maxBuffered: 10 })).toThrow(PdpError);
    expect(() => new DecisionLog({ sink, logger, flushIntervalMs: 0 })).toThrow(/flushIntervalMs/);
    expect(() => new DecisionLog({ sink, logger, maxAttempts: 1.5 })).toThrow(/maxAttempts/);
    expect(() => new DecisionLog({ sink, logger, mask: ['/decision_id'] })).toThrow(PdpError);
  });
});
