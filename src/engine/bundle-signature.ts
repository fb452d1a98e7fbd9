import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { compactVerify, errors as joseErrors } from 'jose';
import { PdpError, describeThrown, type ErrorDetail } from '../errors';
import { ASYMMETRIC_JWS_ALGORITHMS, HMAC_JWS_ALGORITHMS } from '../vocabulary';
import { BundleHashError, hashBundleFile } from './bundle-hash';

/**
 * OPA bundle signature verification (`.signatures.json`), following OPA's `bundle/verify.go` and
 * `bundle/bundle.go` (v1.22):
 *
 * - `.signatures.json` is `{"signatures": [<one JWT>], "plugin"?: "_default"}`; a missing file or one
 *   with no signatures and no plugin means "unsigned", which fails when a key is configured.
 * - The JWT is verified with the configured key and algorithm. The key is chosen by the configured key
 *   id, else the JWT header `kid`, else the deprecated payload `keyid` (OPA's order). A PEM key or a
 *   shared secret is configured under one id (default `default`, as `opa run --verification-key-id`),
 *   so, as in OPA, it is used whatever `kid` the token names; a JWKS selects its key by `kid`.
 * - The payload's `scope` must equal the configured scope ("" when none is configured).
 * - Every file of the bundle except `.signatures.json` must be listed in the payload's `files` with a
 *   matching digest (algorithm per entry, JSON files in OPA's canonical form, see bundle-hash.ts), and
 *   every listed file must be present.
 *
 * Stricter than OPA in two places: only the root `.signatures.json` is treated as the signature file
 * (OPA treats any path ending in `signatures.json` as one), and YAML data files are refused.
 */

export const SIGNATURES_FILE = '.signatures.json';

export interface BundleVerificationOptions {
  /**
   * A PEM public key (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`, an X.509 `CERTIFICATE`, or a private
   * key, from which the public key is derived), a JWKS (`{"keys":[...]}`) or a single JWK, as JSON; or,
   * with an HS256/HS384/HS512 `algorithm`, the shared secret itself (used byte for byte, as OPA does).
   */
  key: string;
  /**
   * JWS algorithm (OPA `keys.<id>.algorithm` / `--signing-alg`). Default: a JWK's `alg`, else taken
   * from the key type: RSA → RS256 (OPA's default), RSA-PSS → PS256, EC P-256/384/521 → ES256/384/512,
   * Ed25519 → EdDSA. A shared secret needs it set explicitly.
   */
  algorithm?: string | undefined;
  /** Key id (OPA `signing.keyid` / `--verification-key-id`). Pins the JWKS key; names a PEM key. */
  keyId?: string | undefined;
  /** Expected `scope` claim (OPA `signing.scope` / `--scope`); default: none, so a scoped bundle fails. */
  scope?: string | undefined;
}

/** What a successful verification established. */
export interface BundleSignature {
  keyId: string;
  algorithm: string;
  scope: string;
  /** Files covered by the signature (all files of the bundle but `.signatures.json`). */
  files: number;
  issuer: string | null;
  issuedAt: number | null;
}

interface VerificationKey {
  id: string;
  algorithm: string;
  key: KeyObject;
}

const HMAC: ReadonlySet<string> = new Set(HMAC_JWS_ALGORITHMS);
const EC_CURVES: ReadonlyMap<string, string> = new Map([
  ['ES256', 'prime256v1'],
  ['ES384', 'secp384r1'],
  ['ES512', 'secp521r1'],
]);
/** OPA's list: the asymmetric ones, `Ed25519` (OPA's other name for EdDSA) and HMAC. */
const SUPPORTED_ALGORITHMS: readonly string[] = [
  ...ASYMMETRIC_JWS_ALGORITHMS,
  'Ed25519',
  ...HMAC_JWS_ALGORITHMS,
];

function configError(message: string): PdpError {
  return new PdpError('config_invalid', `bundle verification key: ${message}`);
}

function inferAlgorithm(key: KeyObject): string | null {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = [...EC_CURVES].find(([, c]) => c === curve)?.[0];
      return alg ?? null;
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      return null;
  }
}

/** Refuses, at configuration time, an algorithm the key cannot verify. */
function checkPairing(id: string, algorithm: string, key: KeyObject): void {
  if (!SUPPORTED_ALGORITHMS.includes(algorithm)) {
    throw configError(`unsupported algorithm ${algorithm} (use one of ${SUPPORTED_ALGORITHMS.join(', ')})`);
  }
  const type = key.type === 'secret' ? 'secret' : (key.asymmetricKeyType ?? 'unknown');
  const ok =
    (HMAC.has(algorithm) && type === 'secret') ||
    (algorithm.startsWith('RS') && type === 'rsa') ||
    (algorithm.startsWith('PS') && (type === 'rsa' || type === 'rsa-pss')) ||
    (EC_CURVES.has(algorithm) &&
      type === 'ec' &&
      key.asymmetricKeyDetails?.namedCurve === EC_CURVES.get(algorithm)) ||
    ((algorithm === 'EdDSA' || algorithm === 'Ed25519') && type === 'ed25519');
  if (!ok) throw configError(`key "${id}" (${type}) cannot verify ${algorithm} signatures`);
}

function publicKeyFromJwk(jwk: Record<string, unknown>, what: string): KeyObject {
  if (jwk['kty'] === 'oct') {
    if (typeof jwk['k'] !== 'string') throw configError(`${what}: an "oct" JWK needs "k"`);
    return createSecretKey(Buffer.from(jwk['k'], 'base64url'));
  }
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw configError(`${what} is not a usable JWK (${describeThrown(err)})`);
  }
}

function parseKeys(opts: BundleVerificationOptions): {
  keys: Map<string, VerificationKey>;
  pinned: string | null;
} {
  const keys = new Map<string, VerificationKey>();
  const configuredAlg = opts.algorithm?.trim() === '' ? undefined : opts.algorithm?.trim();
  const add = (id: string, key: KeyObject, alg: string | undefined): void => {
    const algorithm = alg ?? configuredAlg ?? inferAlgorithm(key);
    if (algorithm === null) throw configError(`cannot tell the algorithm for key "${id}"; set it explicitly`);
    checkPairing(id, algorithm, key);
    if (keys.has(id)) throw configError(`two keys share the id "${id}"`);
    keys.set(id, { id, algorithm, key });
  };
  const raw = opts.key;
  const trimmed = raw.trim();
  if (trimmed === '') throw configError('empty');

  if (configuredAlg !== undefined && HMAC.has(configuredAlg)) {
    // OPA: for HS* the configured key is the secret, byte for byte.
    const id = opts.keyId ?? 'default';
    add(id, createSecretKey(Buffer.from(raw, 'utf8')), configuredAlg);
    return { keys, pinned: id };
  }
  if (trimmed.startsWith('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPublicKey(trimmed);
    } catch (err) {
      throw configError(`not a usable PEM key (${describeThrown(err)})`);
    }
    const id = opts.keyId ?? 'default';
    add(id, key, undefined);
    return { keys, pinned: id };
  }
  if (trimmed.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch (err) {
      throw configError(`not valid JSON (${describeThrown(err)})`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw configError('not a JWK or JWKS');
    const record = doc as Record<string, unknown>;
    const list: unknown[] = Array.isArray(record['keys'])
      ? (record['keys'] as unknown[])
      : typeof record['kty'] === 'string'
        ? [record]
        : [];
    if (list.length === 0) throw configError('a JWKS needs a non-empty "keys" array');
    const usable = list.filter(
      (k): k is Record<string, unknown> =>
        typeof k === 'object' && k !== null && (k as Record<string, unknown>)['use'] !== 'enc',
    );
    if (usable.length === 0) throw configError('the JWKS has no signature keys');
    // A lone JWK without a kid is configured like a PEM key: one named key, used whatever the token's kid.
    let anonymous: string | null = null;
    for (const [i, jwk] of usable.entries()) {
      const kid = typeof jwk['kid'] === 'string' && jwk['kid'] !== '' ? jwk['kid'] : null;
      if (kid === null && usable.length > 1)
        throw configError(`JWK #${i} has no "kid" (needed in a set of several)`);
      const id = kid ?? opts.keyId ?? 'default';
      if (kid === null) anonymous = id;
      const key = publicKeyFromJwk(jwk, `JWK "${id}"`);
      if (key.type === 'secret' && (typeof jwk['alg'] !== 'string' || !HMAC.has(jwk['alg']))) {
        throw configError(`JWK "${id}" is a shared secret; give it an HS256/HS384/HS512 "alg"`);
      }
      add(id, key, typeof jwk['alg'] === 'string' && configuredAlg === undefined ? jwk['alg'] : undefined);
    }
    if (opts.keyId !== undefined && !keys.has(opts.keyId)) {
      throw configError(`no key with id "${opts.keyId}" in the JWKS (has ${[...keys.keys()].join(', ')})`);
    }
    return { keys, pinned: opts.keyId ?? anonymous };
  }
  throw configError(
    'neither a PEM key nor a JWK/JWKS; a shared secret needs the algorithm set to HS256, HS384 or HS512',
  );
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new Error(`the JWT ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`the JWT ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

interface SignedFile {
  name: string;
  hash: string;
  algorithm: string;
}

function signedFiles(payload: Record<string, unknown>): SignedFile[] {
  const files = payload['files'];
  if (files === undefined || files === null) return [];
  if (!Array.isArray(files)) throw new Error('the JWT payload "files" is not an array');
  return files.map((f: unknown, i) => {
    const entry = (typeof f === 'object' && f !== null ? f : {}) as Record<string, unknown>;
    const text = (field: string): string => {
      const v = entry[field];
      if (v === undefined || v === null) return '';
      if (typeof v !== 'string') throw new Error(`the JWT payload files[${i}].${field} is not a string`);
      return v;
    };
    return { name: text('name'), hash: text('hash'), algorithm: text('algorithm') };
  });
}

function optionalString(payload: Record<string, unknown>, claim: string): string {
  const v = payload[claim];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Error(`the JWT "${claim}" claim is not a string`);
  return v;
}

function joseMessage(err: unknown, algorithm: string, header: Record<string, unknown>): string {
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return 'signature verification failed (signed with another key, or .signatures.json was altered)';
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return `the signature uses ${JSON.stringify(header['alg'])}, but the key is configured for ${algorithm}`;
  }
  if (err instanceof joseErrors.JOSEError) return `invalid signature JWT (${err.code}: ${err.message})`;
  return `invalid signature JWT (${describeThrown(err)})`;
}

export class BundleVerifier {
  private readonly keys: Map<string, VerificationKey>;
  private readonly pinnedKeyId: string | null;
  private readonly scope: string;

  /** Parses and checks the key at once; a bad key is a `config_invalid` PdpError. */
  constructor(opts: BundleVerificationOptions) {
    const { keys, pinned } = parseKeys(opts);
    this.keys = keys;
    this.pinnedKeyId = pinned;
    this.scope = opts.scope ?? '';
  }

  /** E.g. `RS256 key "default"`, for logs. */
  get description(): string {
    return [...this.keys.values()].map((k) => `${k.algorithm} key "${k.id}"`).join(', ');
  }

  /**
   * Verifies `.signatures.json` and every file's digest. `files` maps names without a leading slash to
   * contents, `.signatures.json` included. Throws `PdpError('bundle_invalid')` naming `source`.
   */
  async verify(files: ReadonlyMap<string, Buffer>, source: string): Promise<BundleSignature> {
    const fail = (message: string, file?: string): PdpError => {
      const details: ErrorDetail[] = [{ pointer: '', message, ...(file !== undefined ? { file } : {}) }];
      return new PdpError('bundle_invalid', `${source}: ${message}`, details);
    };

    const raw = files.get(SIGNATURES_FILE);
    if (raw === undefined) {
      throw fail('bundle is not signed (no .signatures.json) but a verification key is configured');
    }
    let config: unknown;
    try {
      config = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw fail(`.signatures.json is not valid JSON (${describeThrown(err)})`, SIGNATURES_FILE);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw fail('.signatures.json is not a JSON object', SIGNATURES_FILE);
    }
    const { signatures, plugin } = config as { signatures?: unknown; plugin?: unknown };
    if (
      (signatures !== undefined && signatures !== null && !Array.isArray(signatures)) ||
      (Array.isArray(signatures) && signatures.some((s) => typeof s !== 'string')) ||
      (plugin !== undefined && plugin !== null && typeof plugin !== 'string')
    ) {
      throw fail('.signatures.json: "signatures" must be an array of JWT strings', SIGNATURES_FILE);
    }
    const tokens: readonly unknown[] = Array.isArray(signatures) ? signatures : [];
    const pluginName = typeof plugin === 'string' ? plugin : '';
    if (tokens.length === 0 && pluginName === '') {
      throw fail(
        'bundle is not signed (.signatures.json lists no signature) but a verification key is configured',
      );
    }
    if (pluginName !== '' && pluginName !== '_default') {
      throw fail(
        `.signatures.json names signature plugin "${pluginName}", which is not supported`,
        SIGNATURES_FILE,
      );
    }
    if (tokens.length !== 1) {
      throw fail(
        tokens.length === 0
          ? '.signatures.json: missing JWT (expected exactly one)'
          : '.signatures.json: multiple JWTs not supported (expected exactly one)',
        SIGNATURES_FILE,
      );
    }
    const token = String(tokens[0]);

    // Decode first, as OPA does, to find the key id; nothing is trusted until the signature checks out.
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    let listed: SignedFile[];
    let payloadKeyId: string;
    let claimedScope: string;
    let issuer: string;
    try {
      const [headerPart, payloadPart, signaturePart, ...rest] = token.split('.');
      if (
        headerPart === undefined ||
        payloadPart === undefined ||
        signaturePart === undefined ||
        rest.length > 0
      ) {
        throw new Error('the JWT is not in compact form (three dot-separated parts)');
      }
      header = decodeSegment(headerPart, 'header');
      payload = decodeSegment(payloadPart, 'payload');
      listed = signedFiles(payload);
      payloadKeyId = optionalString(payload, 'keyid');
      claimedScope = optionalString(payload, 'scope');
      issuer = optionalString(payload, 'iss');
    } catch (err) {
      throw fail(`.signatures.json: ${describeThrown(err)}`, SIGNATURES_FILE);
    }
    const headerKid = typeof header['kid'] === 'string' ? header['kid'] : '';
    const keyId = this.pinnedKeyId ?? (headerKid !== '' ? headerKid : payloadKeyId);
    if (keyId === '') {
      throw fail('the signature names no key id (kid) and none is configured', SIGNATURES_FILE);
    }
    const key = this.keys.get(keyId);
    if (key === undefined) {
      throw fail(
        `the signature names key id "${keyId}", which is not configured (have ${[...this.keys.keys()].join(', ')})`,
        SIGNATURES_FILE,
      );
    }
    try {
      await compactVerify(token, key.key, { algorithms: [key.algorithm] });
    } catch (err) {
      throw fail(joseMessage(err, key.algorithm, header), SIGNATURES_FILE);
    }
    if (claimedScope !== this.scope) {
      throw fail(
        `scope mismatch: the bundle is signed for scope ${JSON.stringify(claimedScope)}, expected ${JSON.stringify(this.scope)}`,
        SIGNATURES_FILE,
      );
    }

    // Every file must be listed with a matching digest; a repeated name keeps its last entry (as OPA's map).
    const pending = new Map(listed.map((f) => [f.name, f]));
    const entries = [...files].filter(([n]) => n !== SIGNATURES_FILE);
    for (const [name, bytes] of entries) {
      const entry = pending.get(name);
      if (entry === undefined) throw fail(`file ${name} is not included in the bundle signature`, name);
      if (entry.algorithm === '') throw fail(`no hashing algorithm provided for file ${name}`, name);
      let digest: Buffer;
      try {
        digest = hashBundleFile(name, bytes, entry.algorithm);
      } catch (err) {
        if (!(err instanceof BundleHashError)) throw err;
        throw fail(`file ${name}: ${err.message}`, name);
      }
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(entry.hash)) {
        throw fail(`file ${name}: the signed digest ${JSON.stringify(entry.hash)} is not hex`, name);
      }
      if (!Buffer.from(entry.hash, 'hex').equals(digest)) {
        throw fail(
          `file ${name}: digest mismatch (want: ${entry.hash.toLowerCase()}, got: ${digest.toString('hex')})`,
          name,
        );
      }
      pending.delete(name);
    }
    if (pending.size > 0) {
      const missing = [...pending.keys()].sort();
      throw fail(
        `file(s) ${missing.join(', ')} specified in the bundle signature but not found in the bundle`,
        missing[0],
      );
    }
    return {
      keyId,
      algorithm: key.algorithm,
      scope: claimedScope,
      files: entries.length,
      issuer: issuer === '' ? null : issuer,
      issuedAt: typeof payload['iat'] === 'number' ? payload['iat'] : null,
    };
  }
}
