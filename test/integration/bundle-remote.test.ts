import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { HttpBundleSource, realTimers, type Timers } from '../../src/engine/bundle-http';
import { PolicyEngine, type EngineOptions, type LoadOutcome } from '../../src/engine/policy-engine';
import { TenantDataCompiler } from '../../src/engine/tenant-data';
import { WasmPolicy } from '../../src/engine/wasm-policy';
import { EXAMPLE_DATA, decideBody, makeApp, silentLogger } from '../helpers/app';
import {
  buildBundle,
  makeKey,
  modified,
  readTar,
  tempDir,
  writeTar,
  type SigningKey,
} from '../unit/engine/opa-fixture';

/** A bundle server as OPA expects one: ETag on 200, 304 on a matching If-None-Match. */
class BundleServer {
  body: Buffer | null = null;
  etag = '';
  /** When set, every request gets this status. */
  failWith: number | null = null;
  readonly requests: { ifNoneMatch: string | undefined; status: number }[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const ifNoneMatch = req.headers['if-none-match'];
      let status: number;
      if (this.failWith !== null) {
        status = this.failWith;
        res.writeHead(status, { 'content-type': 'text/plain' }).end('bundle store unavailable');
      } else if (this.body === null) {
        status = 404;
        res.writeHead(404).end();
      } else if (ifNoneMatch === this.etag) {
        status = 304;
        res.writeHead(304, { etag: this.etag }).end();
      } else {
        status = 200;
        res.writeHead(200, { 'content-type': 'application/gzip', etag: this.etag }).end(this.body);
      }
      this.requests.push({ ifNoneMatch, status });
    });
  }

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/bundles/agent.tar.gz`;
  }

  serve(body: Buffer): void {
    this.body = body;
    this.etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    this.failWith = null;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** Poll timers the test fires by hand, so backoff delays are observable and nothing sleeps. */
class PollTimers implements Timers {
  readonly scheduled: number[] = [];
  private pending: { id: number; callback: () => void } | null = null;
  private next = 1;
  setTimeout = (callback: () => void, ms: number): unknown => {
    this.scheduled.push(ms);
    this.pending = { id: this.next++, callback };
    return this.pending.id;
  };
  clearTimeout = (handle: unknown): void => {
    if (this.pending?.id === handle) this.pending = null;
  };
  /** Runs the pending poll and waits until the engine has scheduled the next one. */
  async tick(): Promise<void> {
    const pending = this.pending;
    if (pending === null) throw new Error('no poll scheduled');
    this.pending = null;
    const count = this.scheduled.length;
    pending.callback();
    const deadline = Date.now() + 10_000;
    while (this.scheduled.length === count) {
      if (Date.now() > deadline) throw new Error('the next poll was never scheduled');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

let dir: string;
let rsa: SigningKey;
let other: SigningKey;
let bundleA: Buffer;
let bundleB: Buffer;
let byOther: Buffer;
let tampered: Buffer;
let server: BundleServer;
let url: string;

beforeAll(async () => {
  dir = await tempDir('pdp-remote-');
  [rsa, other] = await Promise.all([makeKey(dir, 'rsa'), makeKey(dir, 'rsa', 'other')]);
  const [a, b, x] = await Promise.all([
    buildBundle({ out: path.join(dir, 'a.tar.gz'), revision: 'rev-a', signingKey: rsa.privateFile }),
    buildBundle({ out: path.join(dir, 'b.tar.gz'), revision: 'rev-b', signingKey: rsa.privateFile }),
    buildBundle({ out: path.join(dir, 'x.tar.gz'), revision: 'rev-x', signingKey: other.privateFile }),
  ]);
  [bundleA, bundleB, byOther] = await Promise.all([readFile(a), readFile(b), readFile(x)]);
  const files = await readTar(a);
  const wasm = files.get('policy.wasm')!;
  tampered = await readFile(
    await writeTar(
      modified(files, {
        'policy.wasm': Buffer.concat([wasm.subarray(0, -1), Buffer.from([wasm[wasm.length - 1]! ^ 1])]),
      }),
      path.join(dir, 'tampered.tar.gz'),
    ),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  server = new BundleServer();
  url = await server.start();
});
afterEach(async () => {
  await server.stop();
  jest.restoreAllMocks();
});

function remoteSource(engine: PolicyEngine): HttpBundleSource {
  const source = engine.bundleSource;
  if (!(source instanceof HttpBundleSource)) throw new Error('not a remote source');
  return source;
}

function remoteEngine(extra: Partial<EngineOptions> = {}): {
  engine: PolicyEngine;
  timers: PollTimers;
  loads: [LoadOutcome, string | null][];
} {
  const timers = new PollTimers();
  const loads: [LoadOutcome, string | null][] = [];
  const engine = new PolicyEngine({
    bundle: url,
    dataDir: EXAMPLE_DATA,
    defaultTtlSeconds: 3600,
    maxTtlSeconds: 86400,
    logger: silentLogger,
    clock: Date.now,
    timers,
    // Request timeouts on real timers; the poll loop on the test's.
    source: new HttpBundleSource(url, {
      timers: realTimers,
      timeoutMs: 5000,
      maxBackoffMs: 20_000,
      random: () => 0.5,
    }),
    onLoad: (outcome, revision) => loads.push([outcome, revision]),
    ...extra,
  });
  return { engine, timers, loads };
}

describe('remote bundles (PDP_BUNDLE=http(s)://...)', () => {
  it('loads, polls with If-None-Match, does no work on 304, swaps in a new bundle', async () => {
    server.serve(bundleA);
    const { engine, timers, loads } = remoteEngine();
    const swaps: string[] = [];
    engine.onSwap((r) => swaps.push(r.revision));
    await expect(engine.reload()).resolves.toMatchObject({ changed: true });
    const first = engine.current!;
    expect(first.bundleRevision).toBe('rev-a');
    expect(server.requests).toEqual([{ ifNoneMatch: undefined, status: 200 }]);
    expect(remoteSource(engine).currentEtag).toBe(server.etag);

    const stop = engine.watch(1);
    try {
      expect(timers.scheduled).toEqual([1000]);
      const instantiate = jest.spyOn(WasmPolicy, 'instantiate');
      const compileData = jest.spyOn(TenantDataCompiler.prototype, 'compile');
      await timers.tick();
      await timers.tick();
      expect(server.requests.slice(1)).toEqual([
        { ifNoneMatch: server.etag, status: 304 },
        { ifNoneMatch: server.etag, status: 304 },
      ]);
      expect(instantiate).not.toHaveBeenCalled();
      expect(compileData).not.toHaveBeenCalled();
      expect(engine.current).toBe(first);
      expect(loads.slice(1)).toEqual([
        ['unchanged', first.revision],
        ['unchanged', first.revision],
      ]);

      server.serve(bundleB);
      await timers.tick();
      expect(server.requests.at(-1)).toEqual({ ifNoneMatch: expect.any(String), status: 200 });
      expect(engine.current!.bundleRevision).toBe('rev-b');
      expect(swaps).toEqual([first.revision, engine.current!.revision]);
      expect(loads.at(-1)).toEqual(['success', engine.current!.revision]);
      expect(timers.scheduled).toEqual([1000, 1000, 1000, 1000]);
    } finally {
      stop();
    }
  });

  it('keeps serving through a server outage, backing off more each time, and recovers', async () => {
    server.serve(bundleA);
    const { engine, timers, loads } = remoteEngine();
    await engine.reload();
    const good = engine.current!;
    const t = await makeApp({ engine });
    const stop = engine.watch(1);
    try {
      server.failWith = 503;
      for (let i = 0; i < 4; i++) await timers.tick();
      expect(server.requests.slice(1).map((r) => r.status)).toEqual([503, 503, 503, 503]);
      // poll × 1.6ⁿ, capped at 20 s (jitter pinned to 0 by random() = 0.5)
      expect(timers.scheduled).toEqual([1000, 1600, 2560, 4096, 6554]);
      expect(remoteSource(engine).consecutiveFailures).toBe(4);
      expect(engine.current).toBe(good);
      expect(engine.lastError).toMatchObject({
        code: 'bundle_invalid',
        message: `${url}: bundle download failed: HTTP 503 Service Unavailable`,
      });
      expect(loads.slice(1)).toEqual(Array(4).fill(['failure', good.revision]));
      const during = await request(t.api).post('/v1/decide').send(decideBody()).expect(200);
      expect(during.body).toMatchObject({ decision: 'allow', revision: good.revision });

      server.failWith = null; // back, same bundle: a 304 clears the error, the interval resets
      await timers.tick();
      expect(server.requests.at(-1)).toEqual({ ifNoneMatch: server.etag, status: 304 });
      expect(engine.lastError).toBeNull();
      expect(engine.current!.revision).toBe(good.revision);
      expect(timers.scheduled.at(-1)).toBe(1000);
      expect(loads.at(-1)).toEqual(['unchanged', good.revision]);
    } finally {
      stop();
    }
  });

  it('reports an unreachable server at start-up and is not ready', async () => {
    await server.stop();
    const { engine, loads } = remoteEngine();
    await expect(engine.reload()).rejects.toMatchObject({
      code: 'bundle_invalid',
      message: expect.stringMatching(/bundle download failed: fetch failed \(.*ECONNREFUSED/),
    });
    expect(engine.ready).toBe(false);
    expect(loads).toEqual([['failure', null]]);
    server = new BundleServer(); // for afterEach
    url = await server.start();
  });

  it('verifies remote bundles: a signed one loads; tampered or foreign ones never replace it', async () => {
    server.serve(bundleA);
    const { engine, timers, loads } = remoteEngine({ verifyKey: rsa.publicPem });
    await engine.reload();
    const good = engine.current!;
    expect(good).toMatchObject({
      bundleRevision: 'rev-a',
      signature: { keyId: 'default', algorithm: 'RS256' },
    });
    const goodEtag = server.etag;
    const stop = engine.watch(1);
    try {
      server.serve(tampered);
      await timers.tick();
      expect(engine.lastError?.message).toMatch(
        /^http:\/\/127\.0\.0\.1:\d+\/bundles\/agent\.tar\.gz: file policy\.wasm: digest mismatch/,
      );
      expect(engine.current).toBe(good);
      // The refused bundle's ETag is not adopted: the next poll asks with the good one and refetches.
      await timers.tick();
      expect(server.requests.slice(-2)).toEqual([
        { ifNoneMatch: goodEtag, status: 200 },
        { ifNoneMatch: goodEtag, status: 200 },
      ]);

      server.serve(byOther);
      await timers.tick();
      expect(engine.lastError?.message).toMatch(/signature verification failed/);
      expect(engine.current).toBe(good);

      server.serve(bundleB);
      await timers.tick();
      expect(engine.current).toMatchObject({ bundleRevision: 'rev-b', signature: { keyId: 'default' } });
      expect(engine.lastError).toBeNull();
      expect(loads.map(([o]) => o)).toEqual(['success', 'failure', 'failure', 'failure', 'success']);
      // Verification failures are not download failures: no backoff.
      expect(timers.scheduled).toEqual([1000, 1000, 1000, 1000, 1000]);
    } finally {
      stop();
    }
  });
});
