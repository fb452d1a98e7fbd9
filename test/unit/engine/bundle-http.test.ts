import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { HttpBundleSource, redactUrl, type FetchLike, type Timers } from '../../../src/engine/bundle-http';
import { tempDir, writeTar } from './opa-fixture';

const URL_ = 'https://bundles.example/v1/agent.tar.gz';

let body: Buffer;
let otherBody: Buffer;
beforeAll(async () => {
  const dir = await tempDir('pdp-http-');
  const files = (revision: string) =>
    new Map([
      ['policy.wasm', Buffer.from([0, 0x61, 0x73, 0x6d])],
      ['.manifest', Buffer.from(JSON.stringify({ revision }))],
    ]);
  body = await readFile(await writeTar(files('a'), path.join(dir, 'a.tar.gz')));
  otherBody = await readFile(await writeTar(files('b'), path.join(dir, 'b.tar.gz')));
  await rm(dir, { recursive: true, force: true });
});

interface Call {
  url: string;
  headers: Record<string, string>;
}

/** A scripted fetch: each call takes the next responder. */
function scriptedFetch(...responders: ((call: Call, init: RequestInit) => Promise<Response> | Response)[]) {
  const calls: Call[] = [];
  const fetch: FetchLike = (url, init) => {
    const call = { url, headers: { ...(init.headers as Record<string, string>) } };
    calls.push(call);
    const responder = responders.shift();
    if (responder === undefined) throw new Error('unexpected fetch');
    return Promise.resolve(responder(call, init));
  };
  return { fetch, calls };
}

const ok = (bytes: Buffer, etag?: string) => () =>
  new Response(bytes, { status: 200, headers: etag !== undefined ? { etag } : {} });
const status = (code: number) => () => new Response(code === 304 ? null : 'nope', { status: code });

/** Timers whose callbacks the test fires by hand. */
class ManualTimers implements Timers {
  pending = new Map<number, { callback: () => void; ms: number }>();
  private next = 1;
  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.next++;
    this.pending.set(id, { callback, ms });
    return id;
  };
  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };
  fireAll(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const t of due) t.callback();
  }
}

describe('HttpBundleSource (OPA bundle service protocol)', () => {
  it('sends If-None-Match with the ETag of the last committed bundle; a 304 is "unchanged"', async () => {
    const { fetch, calls } = scriptedFetch(ok(body, '"v1"'), ok(body, '"v1"'), status(304));
    const source = new HttpBundleSource(URL_, { fetch });
    const first = await source.read();
    expect(first).toMatchObject({ status: 'files', source: URL_ });
    expect(first.status === 'files' && [...first.files.keys()]).toEqual(['policy.wasm', '.manifest']);
    expect(calls[0]!.headers['if-none-match']).toBeUndefined();
    // Not committed (the engine refused it, say): the next request is unconditional again.
    await source.read();
    expect(calls[1]!.headers['if-none-match']).toBeUndefined();
    const second = await source.read().catch((e: unknown) => e);
    // A 304 to an unconditional request is a server error, not a licence to skip the bundle.
    expect(second).toMatchObject({ code: 'bundle_invalid', message: expect.stringContaining('HTTP 304') });

    const { fetch: fetch2, calls: calls2 } = scriptedFetch(ok(body, '"v1"'), status(304));
    const committed = new HttpBundleSource(URL_, { fetch: fetch2 });
    const read = await committed.read();
    if (read.status !== 'files') throw new Error('expected files');
    read.commit();
    expect(committed.currentEtag).toBe('"v1"');
    await expect(committed.read()).resolves.toEqual({ status: 'unchanged' });
    expect(calls2[1]!.headers['if-none-match']).toBe('"v1"');
  });

  it('accepts a tarball already decompressed by fetch (a server sending Content-Encoding: gzip)', async () => {
    const { fetch } = scriptedFetch(ok(gunzipSync(body), '"v1"'));
    const read = await new HttpBundleSource(URL_, { fetch }).read();
    expect(read.status === 'files' && read.files.get('.manifest')?.toString()).toBe('{"revision":"a"}');
  });

  it('treats a body identical to the committed one as unchanged (servers without ETags)', async () => {
    const { fetch } = scriptedFetch(ok(body), ok(body), ok(otherBody));
    const source = new HttpBundleSource(URL_, { fetch });
    const read = await source.read();
    if (read.status !== 'files') throw new Error('expected files');
    read.commit();
    await expect(source.read()).resolves.toEqual({ status: 'unchanged' });
    await expect(source.read()).resolves.toMatchObject({ status: 'files' });
  });

  it('fails on non-2xx and network errors, and backs off exponentially (capped, jittered), reset by a success', async () => {
    const econnrefused = () =>
      Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }));
    const { fetch } = scriptedFetch(
      status(500),
      status(503),
      econnrefused,
      status(404),
      status(502),
      status(500),
      ok(body, '"v2"'),
    );
    let random = 0.5;
    const source = new HttpBundleSource(URL_, { fetch, maxBackoffMs: 10_000, random: () => random });
    expect(source.nextPollDelayMs(1000)).toBe(1000);
    const delays: number[] = [];
    const messages: string[] = [];
    for (let i = 0; i < 6; i++) {
      const err = (await source.read().catch((e: unknown) => e)) as { code: string; message: string };
      expect(err.code).toBe('bundle_invalid');
      messages.push(err.message);
      delays.push(source.nextPollDelayMs(1000));
    }
    expect(messages.slice(0, 4)).toEqual([
      `${URL_}: bundle download failed: HTTP 500`,
      `${URL_}: bundle download failed: HTTP 503`,
      `${URL_}: bundle download failed: fetch failed (connect ECONNREFUSED)`,
      `${URL_}: bundle download failed: HTTP 404`,
    ]);
    expect(source.consecutiveFailures).toBe(6);
    // ×1.6 per failure from the poll interval, capped at 10 s (random 0.5 = no jitter).
    expect(delays).toEqual([1600, 2560, 4096, 6554, 10000, 10000]);
    random = 0; // -20 %
    expect(source.nextPollDelayMs(1000)).toBe(8000);
    random = 0.999; // +20 %, but never above the cap
    expect(source.nextPollDelayMs(1000)).toBe(10000);

    await expect(source.read()).resolves.toMatchObject({ status: 'files' });
    expect(source.consecutiveFailures).toBe(0);
    expect(source.nextPollDelayMs(1000)).toBe(1000);
  });

  it('times out a request that does not complete', async () => {
    const timers = new ManualTimers();
    const hanging: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => {
          reject(init.signal?.reason as Error);
        });
      });
    const source = new HttpBundleSource(URL_, { fetch: hanging, timers, timeoutMs: 250 });
    const pending = source.read().catch((e: unknown) => e);
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([250]);
    timers.fireAll();
    await expect(pending).resolves.toMatchObject({
      code: 'bundle_invalid',
      message: `${URL_}: bundle download failed: no response within 250 ms`,
    });
    expect(source.consecutiveFailures).toBe(1);
  });

  it('refuses a body over the size limit, and an unreadable archive (without counting a download failure)', async () => {
    const { fetch } = scriptedFetch(ok(body), () => new Response('not a tarball', { status: 200 }));
    const source = new HttpBundleSource(URL_, { fetch, maxBytes: 10 });
    await expect(source.read()).rejects.toMatchObject({ message: expect.stringMatching(/exceeds 10/) });
    const big = new HttpBundleSource(URL_, { fetch, maxBytes: 1 << 20 });
    await expect(big.read()).rejects.toMatchObject({
      code: 'bundle_invalid',
      message: expect.stringMatching(
        /^https:\/\/bundles\.example\/v1\/agent\.tar\.gz: not a readable bundle archive/,
      ),
    });
    expect(big.consecutiveFailures).toBe(0);
  });

  it('sends configured headers and keeps credentials and query strings out of messages', async () => {
    const secretUrl = 'https://ci:hunter2@bundles.example/b.tar.gz?token=s3cr3t';
    const { fetch, calls } = scriptedFetch(status(401));
    const source = new HttpBundleSource(secretUrl, { fetch, headers: { authorization: 'Bearer abc' } });
    const err = (await source.read().catch((e: unknown) => e)) as Error;
    expect(calls[0]).toMatchObject({ url: secretUrl, headers: { authorization: 'Bearer abc' } });
    expect(err.message).toBe('https://bundles.example/b.tar.gz: bundle download failed: HTTP 401');
    expect(redactUrl(secretUrl)).toBe('https://bundles.example/b.tar.gz');
    expect(() => new HttpBundleSource('ftp://x/b.tar.gz')).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
  });
});
