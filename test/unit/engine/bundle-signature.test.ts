import { createPublicKey } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { BundleVerifier } from '../../../src/engine/bundle-signature';
import { PolicyEngine } from '../../../src/engine/policy-engine';
import {
  buildBundle,
  makeKey,
  modified,
  opaVerifies,
  readTar,
  signaturePayload,
  tempDir,
  writeDir,
  writeTar,
  type SigningKey,
  readBundle,
} from './opa-fixture';

let dir: string;
let rsa: SigningKey;
let other: SigningKey;
let ec: SigningKey;
let signedFile: string;
let signed: Map<string, Buffer>;
let ecFile: string;
let hmacFile: string;
let scopedFile: string;
const SECRET = 'correct horse battery staple';

beforeAll(async () => {
  dir = await tempDir();
  [rsa, other, ec] = await Promise.all([
    makeKey(dir, 'rsa'),
    makeKey(dir, 'rsa', 'other'),
    makeKey(dir, 'ec'),
  ]);
  const claims = path.join(dir, 'claims.json');
  await writeFile(claims, JSON.stringify({ scope: 'write', iss: 'policy-ci' }));
  [signedFile, ecFile, hmacFile, scopedFile] = await Promise.all([
    buildBundle({ out: path.join(dir, 'signed.tar.gz'), revision: 'rev-a', signingKey: rsa.privateFile }),
    buildBundle({ out: path.join(dir, 'ec.tar.gz'), signingKey: ec.privateFile, signingAlg: 'ES256' }),
    buildBundle({ out: path.join(dir, 'hmac.tar.gz'), signingKey: SECRET, signingAlg: 'HS256' }),
    buildBundle({ out: path.join(dir, 'scoped.tar.gz'), signingKey: rsa.privateFile, claimsFile: claims }),
  ]);
  signed = await readTar(signedFile);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pem = (key: SigningKey) => new BundleVerifier({ key: key.publicPem });

describe('bundle signature verification (bundles signed by the OPA CLI)', () => {
  it('verifies the signed bundle opa build wrote, and reads it', async () => {
    expect([...signed.keys()]).toEqual(
      expect.arrayContaining([
        '.signatures.json',
        '.manifest',
        'data.json',
        'policy.wasm',
        'policies/agent/ca.rego',
      ]),
    );
    const signature = await pem(rsa).verify(signed, 'signed.tar.gz');
    expect(signature).toEqual({
      keyId: 'default',
      algorithm: 'RS256',
      scope: '',
      files: signed.size - 1,
      issuer: null,
      issuedAt: null,
    });
    const bundle = await readBundle(signedFile, { verifier: pem(rsa) });
    expect(bundle.manifest.revision).toBe('rev-a');
  });

  it('verifies the same bundle extracted to a directory (every file under it counts)', async () => {
    const extracted = await writeDir(signed, path.join(dir, 'extracted'));
    const bundle = await readBundle(extracted, { verifier: pem(rsa) });
    expect(bundle.manifest.revision).toBe('rev-a');
    await writeFile(path.join(extracted, 'README.md'), 'not signed');
    await expect(readBundle(extracted, { verifier: pem(rsa) })).rejects.toMatchObject({
      code: 'bundle_invalid',
      message: `${extracted}: file README.md is not included in the bundle signature`,
    });
  });

  it('hashes JSON files canonically: a reformatted data.json or .manifest still verifies (OPA agrees)', async () => {
    const manifest = JSON.parse(signed.get('.manifest')!.toString()) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(manifest).reverse());
    const data = JSON.parse(signed.get('data.json')!.toString()) as Record<string, unknown>;
    const files = modified(signed, {
      'data.json': `${JSON.stringify(data, null, 3)}\n`,
      '.manifest': JSON.stringify(reordered, null, 4),
    });
    await expect(pem(rsa).verify(files, 'reformatted')).resolves.toMatchObject({ keyId: 'default' });
    const file = await writeTar(files, path.join(dir, 'reformatted.tar.gz'));
    expect(await opaVerifies(file, rsa.publicFile)).toEqual({ ok: true, output: '' });
  });

  const flipLastByte = (bytes: Buffer): Buffer => {
    const copy = Buffer.from(bytes);
    copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x01;
    return copy;
  };
  const cases: [string, () => Map<string, Buffer>, RegExp, string | undefined, RegExp][] = [
    [
      'policy.wasm tampered',
      () => modified(signed, { 'policy.wasm': flipLastByte(signed.get('policy.wasm')!) }),
      /^t: file policy\.wasm: digest mismatch \(want: [0-9a-f]{64}, got: [0-9a-f]{64}\)$/,
      'policy.wasm',
      /policy\.wasm: digest mismatch/,
    ],
    [
      'data.json tampered',
      () => modified(signed, { 'data.json': '{"tenants":{"default":{}}}' }),
      /^t: file data\.json: digest mismatch/,
      'data.json',
      /data\.json: digest mismatch/,
    ],
    [
      '.manifest tampered',
      () =>
        modified(signed, { '.manifest': signed.get('.manifest')!.toString().replace('rev-a', 'rev-evil') }),
      /^t: file \.manifest: digest mismatch/,
      '.manifest',
      /\.manifest: digest mismatch/,
    ],
    [
      'a Rego source tampered',
      () =>
        modified(signed, {
          'policies/agent/ca.rego': Buffer.concat([signed.get('policies/agent/ca.rego')!, Buffer.from('\n')]),
        }),
      /^t: file policies\/agent\/ca\.rego: digest mismatch/,
      'policies/agent/ca.rego',
      /policies\/agent\/ca\.rego: digest mismatch/,
    ],
    [
      'a file added',
      () => modified(signed, { 'policies/agent/backdoor.rego': 'package agent.custom\n' }),
      /^t: file policies\/agent\/backdoor\.rego is not included in the bundle signature$/,
      'policies/agent/backdoor.rego',
      /file policies\/agent\/backdoor\.rego not included in bundle signature/,
    ],
    [
      'a file removed',
      () => modified(signed, { 'policies/custom/example.rego': null }),
      /^t: file\(s\) policies\/custom\/example\.rego specified in the bundle signature but not found in the bundle$/,
      'policies/custom/example.rego',
      /file\(s\) \[policies\/custom\/example\.rego\] specified in bundle signatures but not found/,
    ],
    [
      'the signature removed (unsigned)',
      () => modified(signed, { '.signatures.json': null }),
      /^t: bundle is not signed \(no \.signatures\.json\) but a verification key is configured$/,
      undefined,
      /bundle missing \.signatures\.json file/,
    ],
    [
      'an empty signature list',
      () => modified(signed, { '.signatures.json': '{"signatures":[],"plugin":"_default"}' }),
      /^t: \.signatures\.json: missing JWT \(expected exactly one\)$/,
      '.signatures.json',
      /missing JWT \(expected exactly one\)/,
    ],
    [
      'two signatures',
      () => {
        const { signatures } = JSON.parse(signed.get('.signatures.json')!.toString()) as {
          signatures: string[];
        };
        return modified(signed, {
          '.signatures.json': JSON.stringify({ signatures: [signatures[0], signatures[0]] }),
        });
      },
      /^t: \.signatures\.json: multiple JWTs not supported \(expected exactly one\)$/,
      '.signatures.json',
      /multiple JWTs not supported/,
    ],
    [
      'a JWT that is not one',
      () => modified(signed, { '.signatures.json': '{"signatures":["not-a-jwt"]}' }),
      /^t: \.signatures\.json: the JWT is not in compact form/,
      '.signatures.json',
      /compact|segments|JWT/i,
    ],
    [
      'a payload re-encoded without re-signing',
      () => {
        const { signatures } = JSON.parse(signed.get('.signatures.json')!.toString()) as {
          signatures: string[];
        };
        const [h, p, s] = signatures[0]!.split('.');
        const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as { files: { name: string }[] };
        payload.files = payload.files.filter((f) => f.name !== 'policy.wasm');
        const forged = `${h!}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s!}`;
        return modified(signed, { '.signatures.json': JSON.stringify({ signatures: [forged] }) });
      },
      /^t: signature verification failed \(signed with another key, or \.signatures\.json was altered\)$/,
      '.signatures.json',
      /verif/i,
    ],
  ];

  it.each(cases)(
    'refuses %s with a precise bundle_invalid, as OPA does',
    async (name, make, message, file) => {
      const files = make();
      const err = await pem(rsa)
        .verify(files, 't')
        .then(() => null)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'bundle_invalid', message: expect.stringMatching(message) });
      if (file !== undefined) expect((err as { details: { file?: string }[] }).details[0]!.file).toBe(file);
      const tarball = await writeTar(files, path.join(dir, `${name.replace(/\W+/g, '-')}.tar.gz`));
      expect(await opaVerifies(tarball, rsa.publicFile)).toMatchObject({ ok: false });
    },
  );

  it('refuses a bundle signed with another key (OPA agrees)', async () => {
    await expect(pem(other).verify(signed, 't')).rejects.toMatchObject({
      code: 'bundle_invalid',
      message: 't: signature verification failed (signed with another key, or .signatures.json was altered)',
    });
    expect(await opaVerifies(signedFile, other.publicFile)).toEqual({
      ok: false,
      output: expect.stringMatching(/verification error/),
    });
  });

  it('takes the algorithm from the key: an ES256 bundle verifies with the EC public key', async () => {
    const files = await readTar(ecFile);
    await expect(pem(ec).verify(files, 'ec')).resolves.toMatchObject({ algorithm: 'ES256' });
    await expect(
      new BundleVerifier({ key: ec.publicPem, algorithm: 'ES256' }).verify(files, 'ec'),
    ).resolves.toBeTruthy();
    await expect(pem(rsa).verify(files, 'ec')).rejects.toMatchObject({
      message: 'ec: the signature uses "ES256", but the key is configured for RS256',
    });
  });

  it('verifies an HS256 bundle with the shared secret (OPA supports HMAC keys)', async () => {
    const files = await readTar(hmacFile);
    await expect(
      new BundleVerifier({ key: SECRET, algorithm: 'HS256' }).verify(files, 'h'),
    ).resolves.toMatchObject({
      algorithm: 'HS256',
    });
    await expect(
      new BundleVerifier({ key: 'wrong', algorithm: 'HS256' }).verify(files, 'h'),
    ).rejects.toMatchObject({
      message: expect.stringContaining('signature verification failed'),
    });
  });

  it('checks the scope claim as OPA does: it must equal the configured scope', async () => {
    const files = await readTar(scopedFile);
    expect(signaturePayload(files)).toMatchObject({ scope: 'write', iss: 'policy-ci' });
    await expect(pem(rsa).verify(files, 's')).rejects.toMatchObject({
      message: 's: scope mismatch: the bundle is signed for scope "write", expected ""',
    });
    await expect(
      new BundleVerifier({ key: rsa.publicPem, scope: 'write' }).verify(files, 's'),
    ).resolves.toMatchObject({
      scope: 'write',
      issuer: 'policy-ci',
    });
    await expect(
      new BundleVerifier({ key: rsa.publicPem, scope: 'write' }).verify(signed, 's'),
    ).rejects.toMatchObject({
      message: 's: scope mismatch: the bundle is signed for scope "", expected "write"',
    });
    expect(await opaVerifies(scopedFile, rsa.publicFile, ['--scope', 'write'])).toEqual({
      ok: true,
      output: '',
    });
    expect(await opaVerifies(scopedFile, rsa.publicFile)).toEqual({
      ok: false,
      output: expect.stringMatching(/scope mismatch/),
    });
  });

  it('selects a JWKS key by the kid in the signature, or by the configured key id', async () => {
    const jwk = (key: SigningKey, kid: string) => ({
      ...createPublicKey(key.publicPem).export({ format: 'jwk' }),
      kid,
    });
    const jwks = JSON.stringify({ keys: [jwk(other, 'rotated-out'), jwk(rsa, 'default')] });
    // opa build puts kid "default" (its --verification-key-id default) in the JWT header.
    await expect(new BundleVerifier({ key: jwks }).verify(signed, 'j')).resolves.toMatchObject({
      keyId: 'default',
    });
    // A lone JWK without a kid behaves like a PEM key: one named key, whatever kid the token names.
    const lone = JSON.stringify(createPublicKey(rsa.publicPem).export({ format: 'jwk' }));
    await expect(new BundleVerifier({ key: lone, keyId: 'ci' }).verify(signed, 'j')).resolves.toMatchObject({
      keyId: 'ci',
    });
    await expect(
      new BundleVerifier({ key: jwks, keyId: 'rotated-out' }).verify(signed, 'j'),
    ).rejects.toMatchObject({
      message: expect.stringContaining('signature verification failed'),
    });
    await expect(
      new BundleVerifier({ key: JSON.stringify({ keys: [jwk(other, 'a'), jwk(rsa, 'b')] }) }).verify(
        signed,
        'j',
      ),
    ).rejects.toMatchObject({
      message: 'j: the signature names key id "default", which is not configured (have a, b)',
    });
  });

  it('refuses unusable keys at configuration time', () => {
    expect(() => new BundleVerifier({ key: 'not a key' })).toThrow(
      expect.objectContaining({
        code: 'config_invalid',
        message: expect.stringMatching(/neither a PEM key nor a JWK/),
      }),
    );
    expect(() => new BundleVerifier({ key: ec.publicPem, algorithm: 'RS256' })).toThrow(
      expect.objectContaining({
        code: 'config_invalid',
        message: expect.stringContaining('cannot verify RS256'),
      }),
    );
    expect(() => new BundleVerifier({ key: '{"keys":[]}' })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
    expect(() => new BundleVerifier({ key: rsa.publicPem, algorithm: 'none' })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('unsupported algorithm none') }),
    );
    // No key, or a blank one (an empty PDP_BUNDLE_VERIFY_KEY): the engine verifies nothing.
    for (const verifyKey of [null, undefined, '', '  ']) {
      const engine = new PolicyEngine({
        bundle: 'unused.tar.gz',
        dataDir: null,
        defaultTtlSeconds: 3600,
        maxTtlSeconds: 86400,
        logger: pino({ level: 'silent' }),
        clock: Date.now,
        verifyKey,
      });
      expect(engine.verifiesSignatures).toBe(false);
    }
    // A private key is accepted (its public half is used), as OPA accepts one.
    expect(new BundleVerifier({ key: rsa.privatePem }).description).toBe('RS256 key "default"');
  });
});
