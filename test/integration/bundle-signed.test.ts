import { copyFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import { PolicyEngine, type LoadOutcome } from '../../src/engine/policy-engine';
import { EXAMPLE_DATA, decideBody, makeApp, silentLogger } from '../helpers/app';
import {
  buildBundle,
  makeKey,
  modified,
  readTar,
  tempDir,
  writeDir,
  writeTar,
  type SigningKey,
} from '../unit/engine/opa-fixture';

let dir: string;
let rsa: SigningKey;
let other: SigningKey;
let signedA: string;
let signedB: string;
let byOther: string;
let filesA: Map<string, Buffer>;

beforeAll(async () => {
  dir = await tempDir();
  [rsa, other] = await Promise.all([makeKey(dir, 'rsa'), makeKey(dir, 'rsa', 'other')]);
  [signedA, signedB, byOther] = await Promise.all([
    buildBundle({ out: path.join(dir, 'a.tar.gz'), revision: 'rev-a', signingKey: rsa.privateFile }),
    buildBundle({ out: path.join(dir, 'b.tar.gz'), revision: 'rev-b', signingKey: rsa.privateFile }),
    buildBundle({ out: path.join(dir, 'other.tar.gz'), revision: 'rev-x', signingKey: other.privateFile }),
  ]);
  filesA = await readTar(signedA);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function engineFor(bundle: string, loads: [LoadOutcome, string | null][] = []): PolicyEngine {
  return new PolicyEngine({
    bundle,
    dataDir: EXAMPLE_DATA,
    defaultTtlSeconds: 3600,
    maxTtlSeconds: 86400,
    logger: silentLogger,
    clock: Date.now,
    verifyKey: rsa.publicPem,
    onLoad: (outcome, revision) => loads.push([outcome, revision]),
  });
}

async function until<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('signed bundles on disk (PDP_BUNDLE_VERIFY_KEY)', () => {
  it('loads a bundle signed by opa build and decides with it', async () => {
    const loads: [LoadOutcome, string | null][] = [];
    const engine = engineFor(signedA, loads);
    await expect(engine.reload()).resolves.toMatchObject({ changed: true });
    expect(engine.current).toMatchObject({
      bundleRevision: 'rev-a',
      signature: { keyId: 'default', algorithm: 'RS256', scope: '', files: filesA.size - 1 },
    });
    expect(loads).toEqual([['success', engine.current!.revision]]);
    await engine.reload();
    expect(loads[1]).toEqual(['unchanged', engine.current!.revision]);
    const t = await makeApp({ engine });
    const out = await request(t.api).post('/v1/decide').send(decideBody()).expect(200);
    expect(out.body).toMatchObject({ decision: 'allow', revision: engine.current!.revision });
  });

  it('refuses tampered, unsigned and foreign bundles precisely, and keeps serving the last good revision', async () => {
    const work = await tempDir();
    try {
      const live = path.join(work, 'bundle.tar.gz');
      await copyFile(signedA, live);
      const loads: [LoadOutcome, string | null][] = [];
      const engine = engineFor(live, loads);
      await engine.reload();
      const good = engine.current!;
      const t = await makeApp({ engine });

      const flip = (b: Buffer) => Buffer.concat([b.subarray(0, -1), Buffer.from([b[b.length - 1]! ^ 1])]);
      const attempts: [string, () => Promise<void>, string][] = [
        [
          'policy.wasm tampered',
          () =>
            writeTar(modified(filesA, { 'policy.wasm': flip(filesA.get('policy.wasm')!) }), live).then(
              () => undefined,
            ),
          `${live}: file policy.wasm: digest mismatch`,
        ],
        [
          'data.json tampered',
          () =>
            writeTar(
              modified(filesA, { 'data.json': '{"pdp":{"config":{"max_ttl_seconds":1e9}}}' }),
              live,
            ).then(() => undefined),
          `${live}: file data.json: digest mismatch`,
        ],
        [
          '.manifest tampered',
          () =>
            writeTar(
              modified(filesA, {
                '.manifest': filesA.get('.manifest')!.toString().replace('rev-a', 'rev-z'),
              }),
              live,
            ).then(() => undefined),
          `${live}: file .manifest: digest mismatch`,
        ],
        [
          'a file added',
          () =>
            writeTar(
              modified(filesA, { 'policies/custom/allow_all.rego': 'package agent.custom\n' }),
              live,
            ).then(() => undefined),
          `${live}: file policies/custom/allow_all.rego is not included in the bundle signature`,
        ],
        [
          'a file removed',
          () => writeTar(modified(filesA, { 'data.json': null }), live).then(() => undefined),
          `${live}: file(s) data.json specified in the bundle signature but not found in the bundle`,
        ],
        [
          'unsigned',
          () => writeTar(modified(filesA, { '.signatures.json': null }), live).then(() => undefined),
          `${live}: bundle is not signed (no .signatures.json) but a verification key is configured`,
        ],
        ['signed with another key', () => copyFile(byOther, live), `${live}: signature verification failed`],
      ];
      for (const [name, write, message] of attempts) {
        await write();
        const err = await engine.reload().then(
          () => null,
          (e: unknown) => e,
        );
        expect({ name, err }).toEqual({
          name,
          err: expect.objectContaining({ code: 'bundle_invalid', message: expect.stringContaining(message) }),
        });
        expect(engine.current).toBe(good);
        expect(engine.lastError?.message).toContain(message);
        const out = await request(t.api).post('/v1/decide').send(decideBody()).expect(200);
        expect(out.body).toMatchObject({ decision: 'allow', revision: good.revision });
      }
      expect(loads.map(([o]) => o)).toEqual(['success', ...attempts.map(() => 'failure')]);
      expect(loads.every(([, r]) => r === good.revision)).toBe(true);

      await copyFile(signedB, live);
      await expect(engine.reload()).resolves.toMatchObject({ changed: true });
      expect(engine.current).toMatchObject({ bundleRevision: 'rev-b' });
      expect(engine.lastError).toBeNull();
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('checks every bundle the file watcher picks up', async () => {
    const work = await tempDir();
    const engine = engineFor(path.join(work, 'bundle.tar.gz'));
    let stop = (): void => undefined;
    try {
      await copyFile(signedA, path.join(work, 'bundle.tar.gz'));
      await engine.reload();
      stop = engine.watch(0.2);
      const good = engine.current!.revision;
      await writeTar(modified(filesA, { '.signatures.json': null }), path.join(work, 'bundle.tar.gz'));
      const error = await until(() => engine.lastError ?? undefined);
      expect(error.message).toMatch(/bundle is not signed/);
      expect(engine.current!.revision).toBe(good);
      await copyFile(signedB, path.join(work, 'bundle.tar.gz'));
      await until(() => (engine.current!.bundleRevision === 'rev-b' ? true : undefined));
      expect(engine.lastError).toBeNull();
    } finally {
      stop();
      await rm(work, { recursive: true, force: true });
    }
  });

  it('verifies a signed bundle directory: every file in it must be signed', async () => {
    const work = await tempDir();
    try {
      const bundleDir = await writeDir(filesA, path.join(work, 'bundle'));
      const engine = engineFor(bundleDir);
      await engine.reload();
      expect(engine.current).toMatchObject({ bundleRevision: 'rev-a', signature: { keyId: 'default' } });
      await writeFile(path.join(bundleDir, 'policies/custom/extra.rego'), 'package agent.custom\n');
      await expect(engine.reload()).rejects.toMatchObject({
        message: `${bundleDir}: file policies/custom/extra.rego is not included in the bundle signature`,
      });
      expect(engine.current!.bundleRevision).toBe('rev-a');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('never becomes ready on an unsigned bundle when a key is configured', async () => {
    const unsigned = await writeTar(
      modified(filesA, { '.signatures.json': null }),
      path.join(dir, 'unsigned.tar.gz'),
    );
    const loads: [LoadOutcome, string | null][] = [];
    const engine = engineFor(unsigned, loads);
    await expect(engine.reload()).rejects.toMatchObject({ code: 'bundle_invalid' });
    expect(engine.ready).toBe(false);
    expect(loads).toEqual([['failure', null]]);
    // Without a key the same bundle loads: verification is opt-in, as in OPA.
    const open = new PolicyEngine({
      bundle: unsigned,
      dataDir: EXAMPLE_DATA,
      defaultTtlSeconds: 3600,
      maxTtlSeconds: 86400,
      logger: silentLogger,
      clock: Date.now,
    });
    await expect(open.reload()).resolves.toMatchObject({ changed: true });
    expect(open.current!.signature).toBeNull();
  });

  it('refuses an unusable verification key when the engine is built', () => {
    expect(
      () =>
        new PolicyEngine({
          bundle: signedA,
          dataDir: null,
          defaultTtlSeconds: 3600,
          maxTtlSeconds: 86400,
          logger: silentLogger,
          clock: Date.now,
          verifyKey: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----',
        }),
    ).toThrow(expect.objectContaining({ code: 'config_invalid' }));
  });
});
