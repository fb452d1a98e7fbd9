import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import pino from 'pino';
import { DecisionLog, type DropReason } from '../../src/audit/decision-log';
import { recordOf, type DecisionRecord } from '../../src/audit/record';
import type { DecisionLogSink } from '../../src/audit/sink';
import { createSink } from '../../src/audit/sink-spec';
import { createRedisClient } from '../../src/store/redis-connection';
import { RedisProcess } from '../helpers/redis-server';

const N = 10_000;
/** Generous: these push real I/O, and CI machines are often busy. */
const TEN_K_TIMEOUT_MS = 90_000;
const SECRET = 'eyJhbGciOiJSUzI1NiJ9.client-assertion.sig';
const logger = pino({ level: 'silent' });

/** A decide decision as a route would log it: ~900 bytes, with a credential in the context. */
function decision(i: number): DecisionRecord {
  return recordOf(
    {
      endpoint: i % 10 === 0 ? 'authorize' : 'decide',
      tenant: 'acme',
      caller: 'issuer-1',
      input: {
        now: { epoch_seconds: 1795780800, rfc3339: '2026-11-27T12:00:00.000Z' },
        request: {
          tenant: 'acme',
          flow: 'on_behalf_of',
          agent_id: `agt-${i % 97}`,
          resource: 'api://payments',
          scopes: ['payments.read', 'payments.write'],
          user: { id: `u-${i % 13}`, amr: ['pwd', 'mfa'], device: { platform: 'windows', compliant: true } },
          client: { ip: '203.0.113.7', country: 'NL' },
          context: { client_assertion: SECRET, ticket: `INC-${i}` },
        },
        directory: {
          agent: { id: `agt-${i % 97}`, blueprint_id: 'bp-invoice', enabled: true },
          blueprint: null,
        },
        signals: { agent_risk: { level: 'low' }, user_risk: { level: 'none' }, degraded: false },
      },
      decision_id: `01JD${String(i).padStart(22, '0')}`,
      decision: 'allow',
      grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
      reasons: [{ code: 'scope_narrowed', message: 'payments.write is not permitted', policy_id: null }],
      policies: [
        { id: 'ca-block-high-risk', result: 'notApplied', reason: 'agentIdRisk' },
        { id: 'ca-least-privilege', result: 'success', reason: 'notSet' },
      ],
      revision: 'b-42+d-7',
      at_rfc3339: new Date(Date.parse('2026-11-27T12:00:00Z') + i).toISOString(),
    },
    0.25,
  );
}

interface Run {
  ids: string[];
  written: number;
  dropped: [number, DropReason][];
}

/** Logs N decisions in bursts (as concurrent requests would), then closes, which drains. */
async function pushThrough(sink: DecisionLogSink, opts: { maxAttempts?: number } = {}): Promise<Run> {
  const run: Run = { ids: [], written: 0, dropped: [] };
  const log = new DecisionLog({
    sink,
    logger,
    maxBuffered: 10_000,
    batchSize: 500,
    flushIntervalMs: 50,
    retryBaseMs: 20,
    retryMaxMs: 200,
    maxAttempts: opts.maxAttempts ?? 5,
    labels: { service: 'agent-pdp', pid: String(process.pid), worker: '1' },
    onWritten: (n) => {
      run.written += n;
    },
    onDropped: (n, reason) => {
      run.dropped.push([n, reason]);
    },
  });
  for (let i = 0; i < N; i++) {
    const record = decision(i);
    run.ids.push(record.decision_id);
    log.log(record);
    if (i % 250 === 249) await new Promise((r) => setImmediate(r));
  }
  await log.close(60_000);
  return run;
}

/** Exactly the N records, once each, each valid JSON with its decision_id and its credential erased. */
function expectAll(lines: string[], run: Run): void {
  expect(run.dropped).toEqual([]);
  expect(run.written).toBe(N);
  expect(lines).toHaveLength(N);
  const seen = new Set<string>();
  const invalid: string[] = [];
  for (const line of lines) {
    try {
      const record = JSON.parse(line) as DecisionRecord;
      if (typeof record.decision_id === 'string') seen.add(record.decision_id);
      else invalid.push(line);
    } catch {
      invalid.push(line);
    }
  }
  expect(invalid).toEqual([]);
  expect(seen.size).toBe(N);
  expect([...seen].sort()).toEqual([...run.ids].sort());
  const first = lines.find((l) => l.includes(`"decision_id":"${run.ids[0]}"`));
  const sample = JSON.parse(first ?? '{}') as DecisionRecord;
  expect(sample).toMatchObject({
    endpoint: 'authorize',
    tenant: 'acme',
    caller: 'issuer-1',
    result: { decision: 'allow' },
    revision: 'b-42+d-7',
    labels: { service: 'agent-pdp', worker: '1' },
    erased: ['/input/request/context/client_assertion'],
  });
  expect(lines.some((l) => l.includes(SECRET))).toBe(false);
}

describe(`decision log: ${N} decisions through each sink`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pdp-audit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'stdout: a slow stream, drained with backpressure',
    async () => {
      const chunks: string[] = [];
      let drains = 0;
      const stream = new Writable({
        highWaterMark: 16 * 1024,
        write(chunk: Buffer, _enc, cb) {
          chunks.push(chunk.toString('utf8'));
          setImmediate(cb);
        },
      });
      stream.on('drain', () => drains++);
      const run = await pushThrough(createSink('stdout', { stdout: stream })!);
      const text = chunks.join('');
      expect(text.endsWith('\n')).toBe(true);
      expectAll(text.slice(0, -1).split('\n'), run);
      expect(drains).toBeGreaterThan(0);
      // Whole lines per write, none over PIPE_BUF: cluster workers sharing a pipe do not interleave.
      expect(chunks.every((c) => c.endsWith('\n') && Buffer.byteLength(c) <= 4096)).toBe(true);
    },
    TEN_K_TIMEOUT_MS,
  );

  it(
    'file: rotating many times during the run',
    async () => {
      const file = path.join(dir, 'decisions.jsonl');
      const maxBytes = 256 * 1024;
      const run = await pushThrough(createSink(`file:${file}`, { file: { maxBytes, maxFiles: 100 } })!);
      const names = await readdir(dir);
      expect(names.length).toBeGreaterThan(20);
      const lines: string[] = [];
      for (const name of names) {
        const full = path.join(dir, name);
        expect((await stat(full)).size).toBeLessThanOrEqual(maxBytes);
        const text = await readFile(full, 'utf8');
        expect(text.endsWith('\n')).toBe(true);
        lines.push(...text.slice(0, -1).split('\n'));
      }
      expectAll(lines, run);
      // Order survives rotation: oldest in the highest suffix.
      const ordered: string[] = [];
      for (let k = names.length - 1; k >= 1; k--) {
        ordered.push(...(await readFile(`${file}.${k}`, 'utf8')).slice(0, -1).split('\n'));
      }
      ordered.push(...(await readFile(file, 'utf8')).slice(0, -1).split('\n'));
      expect(ordered.map((l) => (JSON.parse(l) as DecisionRecord).decision_id)).toEqual(run.ids);
    },
    TEN_K_TIMEOUT_MS,
  );

  describe('redis-stream', () => {
    /** The client the service gives the sink (src/cluster/worker.ts): a subscriber-role client. */
    const streamClient = (url: string): Redis =>
      createRedisClient(
        {
          redisUrl: url,
          redisSentinels: [],
          redisSentinelMaster: null,
          redisClusterNodes: [],
          redisPassword: null,
          redisTls: false,
        },
        'subscriber',
      ) as Redis;

    let redis: RedisProcess;
    let admin: Redis;
    beforeAll(async () => {
      redis = await RedisProcess.start();
      admin = new Redis(redis.url);
    });
    afterAll(async () => {
      admin.disconnect();
      await redis.stop();
    });

    it(
      'XADDs every record, one pipeline per batch',
      async () => {
        const before = await admin.info('commandstats');
        const client = streamClient(redis.url);
        const sink = createSink('redis-stream:pdp:{acme}:decisions', {
          redis: client,
          redisStream: { maxLen: 1_000_000 },
        })!;
        const run = await pushThrough(sink);
        client.disconnect();
        expect(await admin.xlen('pdp:{acme}:decisions')).toBe(N);
        const entries = await admin.xrange('pdp:{acme}:decisions', '-', '+');
        const lines = entries.map(([, fields]) => {
          expect(fields[0]).toBe('record');
          return fields[1] ?? '';
        });
        expectAll(lines, run);
        expect(lines.map((l) => (JSON.parse(l) as DecisionRecord).decision_id)).toEqual(run.ids);
        const calls = (info: string) => Number(/cmdstat_xadd:calls=(\d+)/.exec(info)?.[1] ?? 0);
        expect(calls(await admin.info('commandstats')) - calls(before)).toBe(N);
      },
      TEN_K_TIMEOUT_MS,
    );

    it('trims the stream to about maxLen, and leaves a client it was given open', async () => {
      const client = new Redis(redis.url);
      const sink = createSink('redis-stream:pdp:trimmed', {
        redis: client,
        redisStream: { maxLen: 100 },
      })!;
      for (let b = 0; b < 10; b++) {
        await sink.write(
          Array.from({ length: 100 }, (_, i) => JSON.stringify({ decision_id: `d-${b}-${i}` })),
        );
      }
      await sink.close();
      const len = await admin.xlen('pdp:trimmed');
      expect(len).toBeGreaterThanOrEqual(100);
      expect(len).toBeLessThan(1000);
      expect(await client.ping()).toBe('PONG');
      client.disconnect();
    });

    it('counts records as dropped, not lost silently, when Redis is down', async () => {
      const down = await RedisProcess.start();
      await down.stop();
      const client = streamClient(down.url);
      const sink = createSink('redis-stream:pdp:decisions', { redis: client })!;
      const dropped: [number, DropReason][] = [];
      const entries: Record<string, any>[] = [];
      const log = new DecisionLog({
        sink,
        logger: pino({ level: 'warn' }, { write: (s: string) => entries.push(JSON.parse(s)) }),
        maxAttempts: 2,
        retryBaseMs: 10,
        retryMaxMs: 10,
        onDropped: (n, reason) => dropped.push([n, reason]),
      });
      for (let i = 0; i < 100; i++) log.log(decision(i));
      await log.close(10_000);
      client.disconnect();
      expect(dropped).toEqual([[100, 'sink_error']]);
      expect(entries.find((e) => e['msg'] === 'decision log dropped records')).toMatchObject({
        dropped: 100,
        reasons: { sink_error: 100 },
      });
    });
  });

  describe('http', () => {
    async function collector(failFirst = 0) {
      const lines: string[] = [];
      const seen = { requests: 0, gzip: true, json: true };
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.requests++;
          if (seen.requests <= failFirst) {
            res.writeHead(503).end();
            return;
          }
          seen.gzip &&= req.headers['content-encoding'] === 'gzip';
          seen.json &&= req.headers['content-type'] === 'application/json';
          const batch = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as unknown[];
          for (const record of batch) lines.push(JSON.stringify(record));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      return {
        lines,
        seen,
        url: `http://127.0.0.1:${port}/v1/decisions`,
        close: async () => {
          server.closeAllConnections();
          server.close();
          await once(server, 'close');
        },
      };
    }

    it(
      'POSTs gzip JSON arrays that the collector counts',
      async () => {
        const c = await collector();
        const run = await pushThrough(createSink(`http:${c.url}`, {})!);
        await c.close();
        expectAll(c.lines, run);
        expect(c.seen).toMatchObject({ gzip: true, json: true });
        expect(c.seen.requests).toBeGreaterThanOrEqual(N / 500);
      },
      TEN_K_TIMEOUT_MS,
    );

    it(
      'retries through a collector outage without losing or duplicating a record',
      async () => {
        const c = await collector(3);
        const run = await pushThrough(createSink(c.url, {})!, { maxAttempts: 6 });
        await c.close();
        expectAll(c.lines, run);
        expect(c.seen.requests).toBeGreaterThan(N / 500);
      },
      TEN_K_TIMEOUT_MS,
    );
  });
});
