/**
 * Real OPA artifacts for the bundle tests: keys from node:crypto, bundles from the pinned OPA CLI,
 * tarballs written and rewritten with node-tar. Everything goes to temp dirs (never build/policies).
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { untar, type Bundle } from '../../../src/engine/bundle';
import type { BundleVerifier } from '../../../src/engine/bundle-signature';
import { LocalBundleSource } from '../../../src/engine/bundle-source';
import { acceptFiles } from '../../../src/engine/load-revision';

export const ROOT = path.resolve(__dirname, '../../..');
export const OPA = path.join(ROOT, '.tools/bin/opa');
export const EXAMPLE_DATA = path.join(ROOT, 'policies/data');

export function tempDir(prefix = 'pdp-signed-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export interface OpaResult {
  ok: boolean;
  output: string;
}

export function opa(args: readonly string[], cwd = ROOT): Promise<OpaResult> {
  return new Promise((resolve) => {
    execFile(OPA, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, output: `${stdout}${stderr}`.trim() });
    });
  });
}

export interface SigningKey {
  alg: string;
  privatePem: string;
  publicPem: string;
  privateFile: string;
  publicFile: string;
}

export async function makeKey(
  dir: string,
  type: 'rsa' | 'ec' = 'rsa',
  name: string = type,
): Promise<SigningKey> {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privateFile = path.join(dir, `${name}.key.pem`);
  const publicFile = path.join(dir, `${name}.pub.pem`);
  await writeFile(privateFile, privatePem);
  await writeFile(publicFile, publicPem);
  return { alg: type === 'rsa' ? 'RS256' : 'ES256', privatePem, publicPem, privateFile, publicFile };
}

export interface BuildOptions {
  out: string;
  revision?: string;
  /** A PEM file (RSA/EC) or, with an HS* alg, the secret itself. */
  signingKey?: string;
  signingAlg?: string;
  claimsFile?: string;
}

/**
 * `opa build -b -t wasm` of policies/agent + policies/custom, as scripts/build-policies.sh does. Signing
 * needs bundle mode (-b), and two bundle roots would overlap, so both directories are staged under one
 * root `policies/`.
 */
const OUTCOMES = path.join(ROOT, 'policies/agent/ca_outcomes');

export async function buildBundle(opts: BuildOptions): Promise<string> {
  const stage = await tempDir('pdp-stage-');
  try {
    await mkdir(path.join(stage, 'policies'));
    for (const dir of ['agent', 'custom']) {
      await cp(path.join(ROOT, 'policies', dir), path.join(stage, 'policies', dir), {
        recursive: true,
        filter: (src) => !src.startsWith(OUTCOMES),
      });
    }
    // Bundle mode places data by its path from the bundle root: the outcome table goes where the
    // plain build (rooted at policies/agent) puts it, data.ca_outcomes.
    await cp(OUTCOMES, path.join(stage, 'policies', 'ca_outcomes'), { recursive: true });
    const args = [
      'build',
      '-b',
      '-t',
      'wasm',
      '--capabilities',
      path.join(ROOT, 'policies/capabilities.json'),
      '--ignore',
      '*_test.rego',
      '-e',
      'agent/decide/result',
      '-e',
      'agent/whatif/result',
      '-e',
      'agent/gateway/result',
      '-o',
      opts.out,
    ];
    if (opts.revision !== undefined) args.push('--revision', opts.revision);
    if (opts.signingKey !== undefined) {
      args.push('--signing-key', opts.signingKey, '--signing-alg', opts.signingAlg ?? 'RS256');
    }
    if (opts.claimsFile !== undefined) args.push('--claims-file', opts.claimsFile);
    args.push('policies');
    const result = await opa(args, stage);
    if (!result.ok) throw new Error(`opa build failed: ${result.output}`);
    return opts.out;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

export async function readTar(file: string): Promise<Map<string, Buffer>> {
  return untar(await readFile(file));
}

/** One ustar header block. */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => {
    header.write(value, offset, length, 'latin1');
  };
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  field(0, 100, name);
  field(100, 8, '0000644\0');
  field(108, 8, '0000000\0');
  field(116, 8, '0000000\0');
  field(124, 12, `${size.toString(8).padStart(11, '0')}\0`);
  field(136, 12, '00000000000\0');
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 8, 'ustar\u000000');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/**
 * Writes files (in map order) as a .tar.gz with entry names as `opa build` writes them: a leading
 * slash (OPA resolves `/policy.wasm` from the manifest against it).
 */
export async function writeTar(files: ReadonlyMap<string, Buffer>, file: string): Promise<string> {
  const blocks: Buffer[] = [];
  for (const [name, bytes] of files) {
    blocks.push(tarHeader(`/${name}`, bytes.length), bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  await writeFile(file, gzipSync(Buffer.concat(blocks)));
  return file;
}

export async function writeDir(files: ReadonlyMap<string, Buffer>, dir: string): Promise<string> {
  for (const [name, bytes] of files) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), bytes);
  }
  return dir;
}

/** A copy of `files` with changes applied: a Buffer/string replaces or adds a file, null removes it. */
export function modified(
  files: ReadonlyMap<string, Buffer>,
  changes: Record<string, Buffer | string | null>,
): Map<string, Buffer> {
  const out = new Map(files);
  for (const [name, change] of Object.entries(changes)) {
    if (change === null) out.delete(name);
    else out.set(name, typeof change === 'string' ? Buffer.from(change) : change);
  }
  return out;
}

/** The decoded JWT payload of a bundle's .signatures.json. */
export interface SignaturePayload {
  files: { name: string; hash: string; algorithm: string }[];
  [claim: string]: unknown;
}

export function signaturePayload(files: ReadonlyMap<string, Buffer>): SignaturePayload {
  const { signatures } = JSON.parse(files.get('.signatures.json')!.toString()) as { signatures: string[] };
  return JSON.parse(Buffer.from(signatures[0]!.split('.')[1]!, 'base64url').toString()) as SignaturePayload;
}

/** OPA's own verdict on a bundle: `opa build -b --verification-key` verifies before it builds. */
export async function opaVerifies(
  bundle: string,
  verificationKey: string,
  extra: readonly string[] = [],
): Promise<OpaResult> {
  const outDir = await tempDir('pdp-opa-verify-');
  try {
    return await opa([
      'build',
      '-b',
      '--verification-key',
      verificationKey,
      ...extra,
      '-o',
      path.join(outDir, 'out.tar.gz'),
      bundle,
    ]);
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

/** What the engine does with a local bundle: LocalBundleSource reads, acceptFiles verifies and parses. */
export async function readBundle(
  location: string,
  opts: { verifier?: BundleVerifier } = {},
): Promise<Bundle> {
  const verifier = opts.verifier ?? null;
  const read = await new LocalBundleSource(location, { allFiles: verifier !== null }).read();
  if (read.status !== 'files') throw new Error('a local source always reads files');
  return (await acceptFiles(read.files, read.source, verifier)).bundle;
}
