import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parseDecisionLogSpec } from './audit/sink-spec';
import { BundleVerifier } from './engine/bundle-signature';
import type { TrustedIssuer } from './auth/agent-tokens';
import { PdpError } from './errors';
import { createAjv, toDetails } from './schemas/ajv';

/** Roles a caller can hold (DESIGN §6). */
export type Role = 'decide' | 'authorize' | 'admin' | 'author';
export const ROLES: readonly Role[] = ['decide', 'authorize', 'admin', 'author'];

export interface ApiKeyEntry {
  /** Lower-case hex sha256 of the key; the key itself is never configured. */
  readonly sha256: string;
  readonly roles: readonly Role[];
  readonly name: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly port: number;
  readonly adminPort: number;
  readonly host: string;
  readonly workers: number;
  readonly bundle: string;
  readonly dataDir: string | null;
  /** Bundle and data-directory roots: an O(1) check this often (files are also watched). */
  readonly bundlePollSeconds: number;
  /** Every file of the data directory is stat'ed this often, for edits no watch event reported; 0 never. */
  readonly dataPollSeconds: number;
  readonly redisUrl: string | null;
  readonly cacheTtlMs: number;
  readonly cacheMaxEntries: number;
  readonly staleIfErrorSeconds: number;
  /** Time budget for one decision's store read; past it the read counts as a store failure. */
  readonly storeTimeoutMs: number;
  /** Consecutive store failures that open the circuit breaker. */
  readonly storeBreakerThreshold: number;
  /** First delay before an open breaker probes the store; grows (with jitter) up to the max. */
  readonly storeBreakerHalfOpenMs: number;
  readonly storeBreakerHalfOpenMaxMs: number;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly maxTtlSeconds: number;
  readonly defaultTtlSeconds: number;
  readonly bodyLimitBytes: number;
  readonly logLevel: LogLevel;
  /** Issuers whose agent tokens /v1/authorize accepts. */
  readonly trustedIssuers: readonly TrustedIssuer[];
  /** Envoy ext_authz `path_prefix`: stripped from the check request's path to recover the original. */
  readonly gatewayPathPrefix: string;
  /** Proxies in front of the PDP whose X-Forwarded-For entries are trusted (0: use the socket address). */
  readonly trustedProxyHops: number;
  readonly clockToleranceSeconds: number;
  readonly tokenCacheMaxEntries: number;
  readonly maxTokenBytes: number;
  /** Redis Sentinel (`REDIS_SENTINELS` host:port list + `REDIS_SENTINEL_MASTER`) or Cluster seed nodes. */
  readonly redisSentinels: readonly HostPort[];
  readonly redisSentinelMaster: string | null;
  readonly redisClusterNodes: readonly HostPort[];
  /** Password for Sentinel/Cluster nodes (standalone takes it in REDIS_URL). */
  readonly redisPassword: string | null;
  readonly redisTls: boolean;
  /** PEM public key or JWKS that every policy bundle's .signatures.json must verify against. */
  readonly bundleVerifyKey: string | null;
  readonly decisionLog: string;
  readonly decisionLogMask: readonly string[];
  readonly decisionLogBuffer: number;
  /** JWT-authenticated callers: issuer, JWKS URL, audience, claim holding the roles. */
  readonly callerIssuer: string | null;
  readonly callerJwksUrl: string | null;
  readonly callerAudience: string | null;
  readonly callerRolesClaim: string;
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly tlsClientCa: string | null;
  /** On SIGTERM: readiness turns false, then after this delay the listeners close. */
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  /**
   * The PDP's public base URL, published in the AuthZEN metadata: PDP_PUBLIC_BASE_URL (https), or
   * derived from host, port and TLS. Never taken from a request's Host header.
   */
  readonly publicBaseUrl: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** True when a shared Redis (any topology) is configured. */
export function hasRedis(config: Pick<Config, 'redisUrl' | 'redisSentinels' | 'redisClusterNodes'>): boolean {
  return config.redisUrl !== null || config.redisSentinels.length > 0 || config.redisClusterNodes.length > 0;
}

/** Where the embedded default finds its policies and example tenant, relative to the project root. */
export const PROJECT_ROOT = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..',
);
export const DEFAULT_BUNDLE = path.join(PROJECT_ROOT, 'build/policies/bundle.tar.gz');
export const DEFAULT_DATA_DIR = path.join(PROJECT_ROOT, 'policies/data');

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['port', 'adminPort', 'host', 'workers', 'bundle', 'bundlePollSeconds', 'cacheTtlMs'],
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    adminPort: { type: 'integer', minimum: 0, maximum: 65535 },
    host: { type: 'string', minLength: 1 },
    workers: { type: 'integer', minimum: 1, maximum: 256 },
    bundle: { type: 'string', minLength: 1 },
    dataDir: { type: ['string', 'null'] },
    bundlePollSeconds: { type: 'number', minimum: 0 },
    dataPollSeconds: { type: 'number', minimum: 0 },
    redisUrl: { type: ['string', 'null'], pattern: '^(redis|rediss)://' },
    cacheTtlMs: { type: 'integer', minimum: 0, maximum: 3600000 },
    cacheMaxEntries: { type: 'integer', minimum: 100 },
    staleIfErrorSeconds: { type: 'integer', minimum: 0, maximum: 86400 },
    storeTimeoutMs: { type: 'integer', minimum: 1, maximum: 10000 },
    storeBreakerThreshold: { type: 'integer', minimum: 1, maximum: 10000 },
    storeBreakerHalfOpenMs: { type: 'integer', minimum: 10, maximum: 600000 },
    storeBreakerHalfOpenMaxMs: { type: 'integer', minimum: 10, maximum: 600000 },
    apiKeys: { type: 'array' },
    maxTtlSeconds: { type: 'integer', minimum: 60 },
    defaultTtlSeconds: { type: 'integer', minimum: 60 },
    bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 16777216 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    trustedIssuers: { type: 'array' },
    gatewayPathPrefix: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$' },
    trustedProxyHops: { type: 'integer', minimum: 0, maximum: 10 },
    clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 300 },
    tokenCacheMaxEntries: { type: 'integer', minimum: 0 },
    maxTokenBytes: { type: 'integer', minimum: 1024, maximum: 65536 },
    redisSentinels: { type: 'array' },
    redisSentinelMaster: { type: ['string', 'null'], minLength: 1 },
    redisClusterNodes: { type: 'array' },
    redisPassword: { type: ['string', 'null'] },
    redisTls: { type: 'boolean' },
    bundleVerifyKey: { type: ['string', 'null'], minLength: 1 },
    decisionLog: { type: 'string', minLength: 1 },
    decisionLogMask: { type: 'array', items: { type: 'string', pattern: '^(/([^~]|~[01])*)+$' } },
    decisionLogBuffer: { type: 'integer', minimum: 100, maximum: 10000000 },
    callerIssuer: { type: ['string', 'null'], minLength: 1 },
    callerJwksUrl: { type: ['string', 'null'], pattern: '^https?://' },
    callerAudience: { type: ['string', 'null'], minLength: 1 },
    callerRolesClaim: { type: 'string', minLength: 1 },
    tlsCert: { type: ['string', 'null'] },
    tlsKey: { type: ['string', 'null'] },
    tlsClientCa: { type: ['string', 'null'] },
    shutdownDelayMs: { type: 'integer', minimum: 0, maximum: 120000 },
    shutdownTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000 },
    publicBaseUrl: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
  },
} as const;

/** Env variable behind each config field, so a rejection names what the operator set. */
const ENV_OF: Readonly<Record<string, string>> = {
  port: 'PDP_PORT',
  adminPort: 'PDP_ADMIN_PORT',
  host: 'PDP_HOST',
  workers: 'PDP_WORKERS',
  bundle: 'PDP_BUNDLE',
  dataDir: 'PDP_DATA_DIR',
  bundlePollSeconds: 'PDP_BUNDLE_POLL_SECONDS',
  dataPollSeconds: 'PDP_DATA_POLL_SECONDS',
  redisUrl: 'REDIS_URL',
  cacheTtlMs: 'PDP_CACHE_TTL_MS',
  cacheMaxEntries: 'PDP_CACHE_MAX_ENTRIES',
  staleIfErrorSeconds: 'PDP_STALE_IF_ERROR_SECONDS',
  storeTimeoutMs: 'PDP_STORE_TIMEOUT_MS',
  storeBreakerThreshold: 'PDP_STORE_BREAKER_THRESHOLD',
  storeBreakerHalfOpenMs: 'PDP_STORE_BREAKER_HALF_OPEN_MS',
  storeBreakerHalfOpenMaxMs: 'PDP_STORE_BREAKER_HALF_OPEN_MAX_MS',
  apiKeys: 'PDP_API_KEYS',
  maxTtlSeconds: 'PDP_MAX_TTL_SECONDS',
  defaultTtlSeconds: 'PDP_DEFAULT_TTL_SECONDS',
  bodyLimitBytes: 'PDP_BODY_LIMIT_BYTES',
  logLevel: 'LOG_LEVEL',
  trustedIssuers: 'PDP_TRUSTED_ISSUERS',
  gatewayPathPrefix: 'PDP_GATEWAY_PATH_PREFIX',
  trustedProxyHops: 'PDP_TRUSTED_PROXY_HOPS',
  clockToleranceSeconds: 'PDP_CLOCK_TOLERANCE_SECONDS',
  tokenCacheMaxEntries: 'PDP_TOKEN_CACHE_MAX_ENTRIES',
  maxTokenBytes: 'PDP_MAX_TOKEN_BYTES',
  redisSentinels: 'REDIS_SENTINELS',
  redisSentinelMaster: 'REDIS_SENTINEL_MASTER',
  redisClusterNodes: 'REDIS_CLUSTER_NODES',
  redisPassword: 'REDIS_PASSWORD',
  redisTls: 'REDIS_TLS',
  bundleVerifyKey: 'PDP_BUNDLE_VERIFY_KEY',
  decisionLog: 'PDP_DECISION_LOG',
  decisionLogMask: 'PDP_DECISION_LOG_MASK',
  decisionLogBuffer: 'PDP_DECISION_LOG_BUFFER',
  callerIssuer: 'PDP_CALLER_ISSUER',
  callerJwksUrl: 'PDP_CALLER_JWKS_URL',
  callerAudience: 'PDP_CALLER_AUDIENCE',
  callerRolesClaim: 'PDP_CALLER_ROLES_CLAIM',
  tlsCert: 'PDP_TLS_CERT',
  tlsKey: 'PDP_TLS_KEY',
  tlsClientCa: 'PDP_TLS_CLIENT_CA',
  shutdownDelayMs: 'PDP_SHUTDOWN_DELAY_MS',
  shutdownTimeoutMs: 'PDP_SHUTDOWN_TIMEOUT_MS',
  publicBaseUrl: 'PDP_PUBLIC_BASE_URL',
};

function str(env: NodeJS.ProcessEnv, name: string): string | null {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? null : value;
}

function hostPorts(env: NodeJS.ProcessEnv, name: string): HostPort[] {
  const raw = str(env, name);
  if (raw === null) return [];
  return raw.split(',').map((entry) => {
    const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(entry.trim());
    if (match?.[1] === undefined || match[2] === undefined) fail(name, `"${entry}" is not host:port`);
    return Object.freeze({ host: match[1], port: Number(match[2]) });
  });
}

/** A PEM or JWKS given inline or as a file path (mounted secrets are files). */
function keyMaterial(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = str(env, name);
  if (raw === null) return null;
  return raw.startsWith('-----BEGIN') || raw.startsWith('{') ? raw : readFileOrFail(name, raw);
}

function fail(variable: string, message: string): never {
  throw new PdpError('config_invalid', `${variable}: ${message}`);
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) fail(name, `expected a number, got ${JSON.stringify(raw)}`);
  return value;
}

/**
 * `PDP_API_KEYS`: comma-separated `name:sha256hex:role|role` entries, or a JSON array of
 * `{"name","sha256","roles"}`. Only hashes are configured so a leaked config leaks no key.
 */
export function parseApiKeys(raw: string | undefined): ApiKeyEntry[] {
  if (raw === undefined || raw.trim() === '') return [];
  let entries: unknown[];
  if (raw.trim().startsWith('[')) {
    try {
      entries = JSON.parse(raw) as unknown[];
    } catch {
      fail('PDP_API_KEYS', 'is not valid JSON');
    }
  } else {
    entries = raw.split(',').map((part) => {
      const [name, sha256, roles] = part.trim().split(':');
      return { name, sha256, roles: roles?.split('|') };
    });
  }
  return entries.map((entry, i) => {
    const e = entry as Partial<{ name: unknown; sha256: unknown; roles: unknown }>;
    if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
      fail('PDP_API_KEYS', `entry ${i}: sha256 must be 64 hex characters`);
    }
    if (!Array.isArray(e.roles) || e.roles.length === 0 || !e.roles.every((r) => ROLES.includes(r as Role))) {
      fail('PDP_API_KEYS', `entry ${i}: roles must be a non-empty list of ${ROLES.join('|')}`);
    }
    const name = typeof e.name === 'string' && e.name !== '' ? e.name : `key-${i}`;
    return Object.freeze({
      name,
      sha256: e.sha256.toLowerCase(),
      roles: Object.freeze([...(e.roles as Role[])]),
    });
  });
}

const validate = new Ajv({ allErrors: true }).compile(schema);

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Symmetric and `none` algorithms are not in the enum: a shared secret cannot identify an issuer. */
const issuersSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['issuer', 'audiences', 'algorithms'],
    additionalProperties: false,
    properties: {
      issuer: { type: 'string', minLength: 1 },
      jwks_uri: { type: 'string', pattern: '^https?://' },
      jwks_file: { type: 'string', minLength: 1 },
      audiences: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
      tenant: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
      algorithms: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ALGORITHMS } },
    },
    oneOf: [{ required: ['jwks_uri'] }, { required: ['jwks_file'] }],
  },
} as const;
const validateIssuers = createAjv().compile(issuersSchema);

function readJsonSetting(variable: string, raw: string): unknown {
  const text =
    raw.trim().startsWith('[') || raw.trim().startsWith('{') ? raw : readFileOrFail(variable, raw.trim());
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    fail(variable, `is not valid JSON (${(err as Error).message})`);
  }
}

function readFileOrFail(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    fail(variable, `cannot read ${file} (${(err as Error).message})`);
  }
}

/** `PDP_TRUSTED_ISSUERS`: a JSON file path or inline JSON; `jwks_file` is read now, once. */
export function parseTrustedIssuers(raw: string | undefined): TrustedIssuer[] {
  if (raw === undefined || raw.trim() === '') return [];
  const parsed = readJsonSetting('PDP_TRUSTED_ISSUERS', raw);
  if (!validateIssuers(parsed)) {
    const d = toDetails(validateIssuers.errors)[0];
    fail('PDP_TRUSTED_ISSUERS', `${d?.pointer ?? ''} ${d?.message ?? 'is invalid'}`.trim());
  }
  const entries = parsed as (Omit<TrustedIssuer, 'tenant'> & { tenant?: string; jwks_file?: string })[];
  return entries.map((e, i) => {
    const issuer: TrustedIssuer = {
      issuer: e.issuer,
      audiences: [...e.audiences],
      tenant: e.tenant ?? 'default',
      algorithms: [...e.algorithms],
    };
    if (e.jwks_uri !== undefined) issuer.jwks_uri = e.jwks_uri;
    if (e.jwks_file !== undefined) {
      const jwks = readJsonSetting(
        'PDP_TRUSTED_ISSUERS',
        readFileOrFail('PDP_TRUSTED_ISSUERS', e.jwks_file),
      ) as {
        keys?: unknown;
      };
      if (!Array.isArray(jwks.keys))
        fail('PDP_TRUSTED_ISSUERS', `/${i}/jwks_file ${e.jwks_file} is not a JWKS`);
      issuer.jwks = jwks as TrustedIssuer['jwks'] & object;
    }
    return Object.freeze(issuer);
  });
}

/** Reads the environment once into a validated, frozen Config. The only reader of process.env. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const redisUrl = env['REDIS_URL']?.trim() ?? '';
  const config = {
    port: num(env, 'PDP_PORT', 8181),
    adminPort: num(env, 'PDP_ADMIN_PORT', 9191),
    host: env['PDP_HOST']?.trim() || '127.0.0.1',
    // Without Redis every worker would hold its own directory: one worker then.
    workers: num(
      env,
      'PDP_WORKERS',
      redisUrl === '' && str(env, 'REDIS_SENTINELS') === null && str(env, 'REDIS_CLUSTER_NODES') === null
        ? 1
        : availableParallelism(),
    ),
    bundle: env['PDP_BUNDLE']?.trim() || DEFAULT_BUNDLE,
    dataDir: env['PDP_DATA_DIR'] === undefined ? DEFAULT_DATA_DIR : env['PDP_DATA_DIR'].trim() || null,
    bundlePollSeconds: num(env, 'PDP_BUNDLE_POLL_SECONDS', 2),
    dataPollSeconds: num(env, 'PDP_DATA_POLL_SECONDS', 60),
    redisUrl: redisUrl === '' ? null : redisUrl,
    cacheTtlMs: num(env, 'PDP_CACHE_TTL_MS', 2000),
    cacheMaxEntries: num(env, 'PDP_CACHE_MAX_ENTRIES', 100000),
    staleIfErrorSeconds: num(env, 'PDP_STALE_IF_ERROR_SECONDS', 300),
    storeTimeoutMs: num(env, 'PDP_STORE_TIMEOUT_MS', 50),
    storeBreakerThreshold: num(env, 'PDP_STORE_BREAKER_THRESHOLD', 5),
    storeBreakerHalfOpenMs: num(env, 'PDP_STORE_BREAKER_HALF_OPEN_MS', 1000),
    storeBreakerHalfOpenMaxMs: num(env, 'PDP_STORE_BREAKER_HALF_OPEN_MAX_MS', 2000),
    apiKeys: parseApiKeys(env['PDP_API_KEYS']),
    maxTtlSeconds: num(env, 'PDP_MAX_TTL_SECONDS', 86400),
    defaultTtlSeconds: num(env, 'PDP_DEFAULT_TTL_SECONDS', 3600),
    bodyLimitBytes: num(env, 'PDP_BODY_LIMIT_BYTES', 65536),
    logLevel: (env['LOG_LEVEL']?.trim() || 'info') as LogLevel,
    trustedIssuers: parseTrustedIssuers(env['PDP_TRUSTED_ISSUERS']),
    gatewayPathPrefix: env['PDP_GATEWAY_PATH_PREFIX']?.trim() || '/v1/authorize',
    trustedProxyHops: num(env, 'PDP_TRUSTED_PROXY_HOPS', 1),
    clockToleranceSeconds: num(env, 'PDP_CLOCK_TOLERANCE_SECONDS', 30),
    tokenCacheMaxEntries: num(env, 'PDP_TOKEN_CACHE_MAX_ENTRIES', 10000),
    maxTokenBytes: num(env, 'PDP_MAX_TOKEN_BYTES', 16384),
    redisSentinels: hostPorts(env, 'REDIS_SENTINELS'),
    redisSentinelMaster: str(env, 'REDIS_SENTINEL_MASTER'),
    redisClusterNodes: hostPorts(env, 'REDIS_CLUSTER_NODES'),
    redisPassword: str(env, 'REDIS_PASSWORD'),
    redisTls: str(env, 'REDIS_TLS') === 'true',
    bundleVerifyKey: keyMaterial(env, 'PDP_BUNDLE_VERIFY_KEY'),
    decisionLog: str(env, 'PDP_DECISION_LOG') ?? 'stdout',
    decisionLogMask: (str(env, 'PDP_DECISION_LOG_MASK') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    decisionLogBuffer: num(env, 'PDP_DECISION_LOG_BUFFER', 10000),
    callerIssuer: str(env, 'PDP_CALLER_ISSUER'),
    callerJwksUrl: str(env, 'PDP_CALLER_JWKS_URL'),
    callerAudience: str(env, 'PDP_CALLER_AUDIENCE'),
    callerRolesClaim: str(env, 'PDP_CALLER_ROLES_CLAIM') ?? 'roles',
    tlsCert: keyMaterial(env, 'PDP_TLS_CERT'),
    tlsKey: keyMaterial(env, 'PDP_TLS_KEY'),
    tlsClientCa: keyMaterial(env, 'PDP_TLS_CLIENT_CA'),
    shutdownDelayMs: num(env, 'PDP_SHUTDOWN_DELAY_MS', 0),
    shutdownTimeoutMs: num(env, 'PDP_SHUTDOWN_TIMEOUT_MS', 10000),
    publicBaseUrl: str(env, 'PDP_PUBLIC_BASE_URL'),
  };
  if (!validate(config)) {
    const first = validate.errors?.[0];
    const field = first?.instancePath.split('/')[1] ?? '';
    fail(ENV_OF[field] ?? field, first?.message ?? 'invalid');
  }
  if (config.defaultTtlSeconds > config.maxTtlSeconds) {
    fail('PDP_DEFAULT_TTL_SECONDS', `must not exceed PDP_MAX_TTL_SECONDS (${config.maxTtlSeconds})`);
  }
  if (config.storeBreakerHalfOpenMaxMs < config.storeBreakerHalfOpenMs) {
    fail(
      'PDP_STORE_BREAKER_HALF_OPEN_MAX_MS',
      `must not be below PDP_STORE_BREAKER_HALF_OPEN_MS (${config.storeBreakerHalfOpenMs})`,
    );
  }
  if (config.bundleVerifyKey !== null) {
    try {
      new BundleVerifier({ key: config.bundleVerifyKey });
    } catch (err) {
      fail('PDP_BUNDLE_VERIFY_KEY', err instanceof Error ? err.message : String(err));
    }
  }
  try {
    parseDecisionLogSpec(config.decisionLog);
  } catch (err) {
    fail('PDP_DECISION_LOG', err instanceof Error ? err.message : String(err));
  }
  const callerJwt = [config.callerIssuer, config.callerJwksUrl, config.callerAudience];
  if (callerJwt.some((v) => v !== null) && callerJwt.some((v) => v === null)) {
    fail('PDP_CALLER_ISSUER', 'PDP_CALLER_ISSUER, PDP_CALLER_JWKS_URL and PDP_CALLER_AUDIENCE go together');
  }
  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    fail('PDP_TLS_CERT', 'PDP_TLS_CERT and PDP_TLS_KEY go together');
  }
  if (config.tlsClientCa !== null && config.tlsCert === null) {
    fail('PDP_TLS_CLIENT_CA', 'mutual TLS needs PDP_TLS_CERT and PDP_TLS_KEY');
  }
  if (config.redisSentinels.length > 0 && config.redisSentinelMaster === null) {
    fail('REDIS_SENTINEL_MASTER', 'is required with REDIS_SENTINELS');
  }
  if (
    [config.redisUrl !== null, config.redisSentinels.length > 0, config.redisClusterNodes.length > 0].filter(
      Boolean,
    ).length > 1
  ) {
    fail('REDIS_URL', 'set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES');
  }
  if (config.workers > 1 && !hasRedis(config)) {
    fail(
      'PDP_WORKERS',
      'more than one worker needs a shared Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)',
    );
  }
  const authenticated =
    config.apiKeys.length > 0 || config.callerIssuer !== null || config.tlsClientCa !== null;
  if (!LOOPBACK.has(config.host) && !authenticated) {
    fail(
      'PDP_HOST',
      `refusing to bind ${config.host} with no caller authentication; set PDP_API_KEYS or bind 127.0.0.1`,
    );
  }
  return Object.freeze({
    ...config,
    publicBaseUrl:
      config.publicBaseUrl === null
        ? listenerUrl(config.host, config.port, config.tlsCert !== null)
        : parsePublicBaseUrl(config.publicBaseUrl),
  });
}

/**
 * PDP_PUBLIC_BASE_URL: an absolute https URL, optionally with a path (a PDP behind a path prefix),
 * without credentials, query or fragment; published without its trailing slash.
 */
export function parsePublicBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail('PDP_PUBLIC_BASE_URL', `${JSON.stringify(raw)} is not an absolute URL`);
  }
  if (url.protocol !== 'https:') fail('PDP_PUBLIC_BASE_URL', 'must be an https URL');
  if (url.username !== '' || url.password !== '') fail('PDP_PUBLIC_BASE_URL', 'must not hold credentials');
  if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#')) {
    fail('PDP_PUBLIC_BASE_URL', 'must not have a query or a fragment');
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** The API listener's own URL, the public base URL when none is configured. */
function listenerUrl(host: string, port: number, tls: boolean): string {
  try {
    return new URL(`${tls ? 'https' : 'http'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`).origin;
  } catch {
    fail('PDP_HOST', `${JSON.stringify(host)} is not a host name or address`);
  }
}
