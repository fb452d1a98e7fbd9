import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { TrustedIssuer } from './auth/agent-tokens';
import { PdpError } from './errors';
import { createAjv, toDetails } from './schemas/ajv';
import { STORE_DEFAULTS } from './store/redis-store';
import { ASYMMETRIC_JWS_ALGORITHMS, ROLES, TENANT_PATTERN, type Role } from './vocabulary';

/**
 * Every setting once: its variable, default, documentation, how its text is read and the schema
 * the value must meet. The `Config` type, validation, `.env.example` and the README's table are
 * derived from this table (`npm run config:docs` writes the two documents).
 */
export interface Setting<T> {
  readonly env: string;
  /** The value when the variable is unset or blank, as the documents show it; null: none. */
  readonly default: string | null;
  /** A default that is not a constant, in words (the README and `.env.example` show these). */
  readonly derived?: string;
  /** `.env.example` shows `# VAR=<example>` (commented out) instead of `VAR=<default>`. */
  readonly example?: string;
  /** One paragraph, Markdown code spans allowed. */
  readonly doc: string;
  /** `.env.example` starts a section with this heading before the setting. */
  readonly section?: string;
  /** Checked after every setting is read, so a rejection names the variable. */
  readonly schema: Readonly<Record<string, unknown>>;
  /** The variable's raw text (undefined: unset) → the value; throws through `fail`. */
  readonly parse: (raw: string | undefined, name: string, env: NodeJS.ProcessEnv) => T;
}

export interface ApiKeyEntry {
  /** Lower-case hex sha256 of the key; the key itself is never configured. */
  readonly sha256: string;
  readonly roles: readonly Role[];
  readonly name: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where the embedded default finds its policies and example tenant, relative to the project root. */
export const PROJECT_ROOT = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..',
);
const BUNDLE_PATH = 'build/policies/bundle.tar.gz';
const DATA_DIR_PATH = 'policies/data';
export const DEFAULT_BUNDLE = path.join(PROJECT_ROOT, BUNDLE_PATH);
export const DEFAULT_DATA_DIR = path.join(PROJECT_ROOT, DATA_DIR_PATH);

/** Every rejection: `config_invalid`, the message led by the variable's name. */
export function fail(variable: string, message: string): never {
  throw new PdpError('config_invalid', `${variable}: ${message}`);
}

function text(raw: string | undefined): string | null {
  const value = raw?.trim();
  return value === undefined || value === '' ? null : value;
}

function readFileOrFail(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    fail(variable, `cannot read ${file} (${(err as Error).message})`);
  }
}

function readJsonSetting(variable: string, raw: string): unknown {
  const json =
    raw.trim().startsWith('[') || raw.trim().startsWith('{') ? raw : readFileOrFail(variable, raw.trim());
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    fail(variable, `is not valid JSON (${(err as Error).message})`);
  }
}

// Readers of the common kinds; each carries its default so the table states it once.

function numeric(fallback: number): Pick<Setting<number>, 'default' | 'parse'> {
  return {
    default: String(fallback),
    parse: (raw, name) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw);
      if (!Number.isFinite(value)) fail(name, `expected a number, got ${JSON.stringify(raw)}`);
      return value;
    },
  };
}

function string<T extends string = string>(fallback: NoInfer<T>): Pick<Setting<T>, 'default' | 'parse'> {
  return { default: fallback, parse: (raw) => (text(raw) ?? fallback) as T };
}

const optional: Pick<Setting<string | null>, 'default' | 'parse'> = { default: null, parse: text };

/** A PEM or JWKS given inline or as a file path (mounted secrets are files). */
const keyMaterial: Pick<Setting<string | null>, 'default' | 'parse'> = {
  default: null,
  parse: (raw, name) => {
    const value = text(raw);
    if (value === null) return null;
    return value.startsWith('-----BEGIN') || value.startsWith('{') ? value : readFileOrFail(name, value);
  },
};

const hostPorts: Pick<Setting<readonly HostPort[]>, 'default' | 'parse'> = {
  default: null,
  parse: (raw, name) => {
    const value = text(raw);
    if (value === null) return [];
    return value.split(',').map((entry) => {
      const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(entry.trim());
      if (match?.[1] === undefined || match[2] === undefined) fail(name, `"${entry}" is not host:port`);
      return Object.freeze({ host: match[1], port: Number(match[2]) });
    });
  },
};

const PORT = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const NULLABLE_TEXT = { type: ['string', 'null'], minLength: 1 } as const;

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
  const roles: readonly string[] = ROLES;
  return entries.map((entry, i) => {
    const e = entry as Partial<{ name: unknown; sha256: unknown; roles: unknown }>;
    if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
      fail('PDP_API_KEYS', `entry ${i}: sha256 must be 64 hex characters`);
    }
    if (
      !Array.isArray(e.roles) ||
      e.roles.length === 0 ||
      !e.roles.every((r) => roles.includes(r as string))
    ) {
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
      tenant: { type: 'string', pattern: TENANT_PATTERN },
      algorithms: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { enum: ASYMMETRIC_JWS_ALGORITHMS },
      },
    },
    oneOf: [{ required: ['jwks_uri'] }, { required: ['jwks_file'] }],
  },
} as const;

/** One Ajv for the settings: the table's schema and the issuer list's. */
export const settingsAjv = createAjv();
const validateIssuers = settingsAjv.compile(issuersSchema);

/** `PDP_TRUSTED_ISSUERS`: a JSON file path or inline JSON; `jwks_file` is read now, once. */
export function parseTrustedIssuers(raw: string | undefined): TrustedIssuer[] {
  if (raw === undefined || raw.trim() === '') return [];
  const parsed = readJsonSetting('PDP_TRUSTED_ISSUERS', raw);
  if (!validateIssuers(parsed)) {
    const d = toDetails(validateIssuers.errors)[0];
    fail('PDP_TRUSTED_ISSUERS', `${d?.pointer ?? ''} ${d?.message ?? 'is invalid'}`.trim());
  }
  const entries = parsed as (Omit<TrustedIssuer, 'tenant'> & { tenant?: string; jwks_file?: string })[];
  // One issuer names one tenant: a token's issuer is what tells the gateway its tenant.
  const seen = new Set<string>();
  for (const [i, e] of entries.entries()) {
    if (seen.has(e.issuer)) {
      fail(
        'PDP_TRUSTED_ISSUERS',
        `/${i}/issuer ${e.issuer} is listed twice: an issuer is trusted for exactly one tenant (Entra issues per-tenant issuer URLs)`,
      );
    }
    seen.add(e.issuer);
  }
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

/** The table's entries, typed by their `parse`. */
function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

export const SETTINGS = {
  port: setting({
    env: 'PDP_PORT',
    ...numeric(8181),
    schema: PORT,
    section: 'Listeners',
    doc: 'Decision API port.',
  }),
  host: setting({
    env: 'PDP_HOST',
    ...string('127.0.0.1'),
    schema: { type: 'string', minLength: 1 },
    doc: 'Bind address; a non-loopback address is refused unless callers must authenticate (`PDP_API_KEYS`, `PDP_CALLER_ISSUER` or `PDP_TLS_CLIENT_CA`).',
  }),
  publicBaseUrl: setting({
    env: 'PDP_PUBLIC_BASE_URL',
    ...optional,
    derived: 'the listener URL',
    example: 'https://pdp.example.com',
    schema: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
    doc: "Public base URL published in the AuthZEN metadata (`/.well-known/authzen-configuration`): an `https://` URL, optionally with a path. Unset: derived from `PDP_HOST`, `PDP_PORT` and TLS, never from a request's Host header.",
  }),
  adminPort: setting({
    env: 'PDP_ADMIN_PORT',
    ...numeric(9191),
    schema: PORT,
    doc: 'Operations port: health, readiness, metrics and `/v1/policies`.',
  }),
  workers: setting({
    env: 'PDP_WORKERS',
    default: null,
    derived: 'CPU cores with Redis, 1 without',
    example: '2',
    // Without Redis every worker would hold its own directory: one worker then.
    parse: (raw, name, env) =>
      numeric(
        text(env['REDIS_URL']) === null &&
          text(env['REDIS_SENTINELS']) === null &&
          text(env['REDIS_CLUSTER_NODES']) === null
          ? 1
          : availableParallelism(),
      ).parse(raw, name, env),
    schema: { type: 'integer', minimum: 1, maximum: 256 },
    doc: 'Worker processes sharing the API port; more than one needs Redis.',
  }),

  bundle: setting({
    env: 'PDP_BUNDLE',
    default: BUNDLE_PATH,
    example: BUNDLE_PATH,
    parse: (raw) => text(raw) ?? DEFAULT_BUNDLE,
    schema: { type: 'string', minLength: 1 },
    section: 'Policies and data',
    doc: 'Compiled policy bundle: a directory (`policy.wasm`, `data.json`, `.manifest`), a `.tar.gz` or an `http(s)://` URL.',
  }),
  bundleVerifyKey: setting({
    env: 'PDP_BUNDLE_VERIFY_KEY',
    ...keyMaterial,
    example: '/etc/agent-pdp/bundle-signing.pub.pem',
    schema: NULLABLE_TEXT,
    doc: "PEM or JWKS (or a file path holding one) that every bundle's `.signatures.json` must verify against.",
  }),
  dataDir: setting({
    env: 'PDP_DATA_DIR',
    default: DATA_DIR_PATH,
    example: DATA_DIR_PATH,
    parse: (raw) => (raw === undefined ? DEFAULT_DATA_DIR : text(raw)),
    schema: { type: ['string', 'null'] },
    doc: 'Conditional Access documents, named locations and gateway routes per tenant, hot-reloaded (empty: none).',
  }),
  bundlePollSeconds: setting({
    env: 'PDP_BUNDLE_POLL_SECONDS',
    ...numeric(2),
    schema: { type: 'number', minimum: 0 },
    doc: 'URL bundles: the poll interval. Local bundle and data directory: an O(1) check of the roots (symlink swaps); edits are seen at once through file watches.',
  }),
  dataPollSeconds: setting({
    env: 'PDP_DATA_POLL_SECONDS',
    ...numeric(60),
    schema: { type: 'number', minimum: 0 },
    doc: "Every file of the data directory is stat'ed this often, for edits no file event reported (NFS, SMB, FUSE); `0`: never.",
  }),

  tenantHeapMib: setting({
    env: 'PDP_TENANT_HEAP_MIB',
    ...numeric(64),
    schema: { type: 'integer', minimum: 1, maximum: 2048 },
    doc: "WASM heap (MiB) for tenants' parsed policy data, per worker: tenants are parsed on first use and stay resident up to this; past it the region is refilled by use (about 550 tenants of 8 documents in 64 MiB).",
  }),

  evalMemoEntries: setting({
    env: 'PDP_EVAL_MEMO_ENTRIES',
    ...numeric(4096),
    schema: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    doc: 'Policy results remembered per worker by exact input (the request, the records and signals read for it, the time to the second): a repeat within the second is not evaluated again. Exact, never stale: any changed record, signal or revision is a new input. MCP bodies are remembered by their bytes too (1,024 bodies, 8 MiB). `0`: both off.',
  }),

  redisUrl: setting({
    env: 'REDIS_URL',
    ...optional,
    example: 'redis://127.0.0.1:6379',
    schema: { type: ['string', 'null'], pattern: '^(redis|rediss)://' },
    section:
      'Directory records and risk signals (set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES)',
    doc: 'Redis: `redis://` or `rediss://` (TLS). With no Redis at all: an in-memory store seeded from `examples/directory.json`.',
  }),
  redisSentinels: setting({
    env: 'REDIS_SENTINELS',
    ...hostPorts,
    example: '10.0.0.5:26379,10.0.0.6:26379',
    schema: { type: 'array' },
    doc: 'Redis Sentinel: `host:port` list.',
  }),
  redisSentinelMaster: setting({
    env: 'REDIS_SENTINEL_MASTER',
    ...optional,
    example: 'mymaster',
    schema: NULLABLE_TEXT,
    doc: 'Redis Sentinel: master name, required with `REDIS_SENTINELS`.',
  }),
  redisClusterNodes: setting({
    env: 'REDIS_CLUSTER_NODES',
    ...hostPorts,
    example: '10.0.0.7:6379,10.0.0.8:6379,10.0.0.9:6379',
    schema: { type: 'array' },
    doc: 'Redis Cluster: seed `host:port` list.',
  }),
  redisPassword: setting({
    env: 'REDIS_PASSWORD',
    ...optional,
    example: '',
    schema: { type: ['string', 'null'] },
    doc: 'Password for Sentinel and Cluster nodes (standalone takes it in `REDIS_URL`).',
  }),
  redisTls: setting({
    env: 'REDIS_TLS',
    default: 'false',
    parse: (raw) => text(raw) === 'true',
    schema: { type: 'boolean' },
    doc: 'TLS to Sentinel and Cluster nodes: `true` or `false`.',
  }),
  cacheTtlMs: setting({
    env: 'PDP_CACHE_TTL_MS',
    ...numeric(2000),
    schema: { type: 'integer', minimum: 0, maximum: 3600000 },
    doc: 'Signal cache freshness in ms (writes through the API evict at once).',
  }),
  cacheMaxEntries: setting({
    env: 'PDP_CACHE_MAX_ENTRIES',
    ...numeric(100000),
    schema: { type: 'integer', minimum: 100 },
    doc: 'Signal cache size (LRU).',
  }),
  staleIfErrorSeconds: setting({
    env: 'PDP_STALE_IF_ERROR_SECONDS',
    ...numeric(300),
    schema: { type: 'integer', minimum: 0, maximum: 86400 },
    doc: 'How long past freshness a cached value may serve while Redis fails.',
  }),
  storeTimeoutMs: setting({
    env: 'PDP_STORE_TIMEOUT_MS',
    ...numeric(STORE_DEFAULTS.readBudgetMs),
    schema: { type: 'integer', minimum: 1, maximum: 10000 },
    doc: "Time budget (ms) of one decision's Redis read; past it the read counts as a Redis failure (cached signals marked degraded, else deny `signals_unavailable`).",
  }),
  storeBreakerThreshold: setting({
    env: 'PDP_STORE_BREAKER_THRESHOLD',
    ...numeric(STORE_DEFAULTS.breaker.threshold),
    schema: { type: 'integer', minimum: 1, maximum: 10000 },
    doc: "Consecutive Redis failures that open the store's circuit breaker; while open, decisions make no Redis call and directory writes answer 503.",
  }),
  storeBreakerHalfOpenMs: setting({
    env: 'PDP_STORE_BREAKER_HALF_OPEN_MS',
    ...numeric(STORE_DEFAULTS.breaker.halfOpenMs),
    schema: { type: 'integer', minimum: 10, maximum: 600000 },
    doc: 'First wait (ms) before an open breaker probes Redis; each failed probe waits longer, with jitter.',
  }),
  storeBreakerHalfOpenMaxMs: setting({
    env: 'PDP_STORE_BREAKER_HALF_OPEN_MAX_MS',
    ...numeric(STORE_DEFAULTS.breaker.halfOpenMaxMs),
    schema: { type: 'integer', minimum: 10, maximum: 600000 },
    doc: 'Longest wait (ms) before a probe tries Redis again.',
  }),

  lifecycleIntervalSeconds: setting({
    env: 'PDP_LIFECYCLE_INTERVAL_SECONDS',
    ...numeric(60),
    schema: { type: 'number', minimum: 0, maximum: 86400 },
    section: 'Agent lifecycle (README: Governing agents)',
    doc: 'How often the lifecycle worker (one replica: a Redis lease) sends notices and applies the actions of lifecycle policies. Decisions apply them at once regardless. `0`: no worker.',
  }),
  lifecycleWebhookUrl: setting({
    env: 'PDP_LIFECYCLE_WEBHOOK_URL',
    ...optional,
    example: 'https://hooks.example.com/agent-lifecycle',
    schema: { type: ['string', 'null'], pattern: '^https?://[^#]+$' },
    doc: "Where notices of upcoming lifecycle actions are POSTed (JSON, to the agent's sponsors or, without one, its manager); unset: none sent.",
  }),
  lifecycleWebhookSecret: setting({
    env: 'PDP_LIFECYCLE_WEBHOOK_SECRET',
    ...optional,
    example: '',
    schema: { type: ['string', 'null'], minLength: 16 },
    doc: 'Signs each notice: `X-PDP-Signature: sha256=<hex HMAC-SHA256 of the body>`.',
  }),
  activityFlushMs: setting({
    env: 'PDP_ACTIVITY_FLUSH_MS',
    ...numeric(5000),
    schema: { type: 'integer', minimum: 100, maximum: 600000 },
    doc: 'How often each worker writes when its agents were last granted a token (to the minute; the inactivity policy reads it). Off the response path.',
  }),
  detections: setting({
    env: 'PDP_DETECTIONS',
    default: 'true',
    parse: (raw) => text(raw) !== 'false',
    schema: { type: 'boolean' },
    section: 'Behaviour detections (README: Governing agents)',
    doc: "Raise agents' risk from the decision stream (failed access bursts, unfamiliar resources, grant spikes, risky users): counted in Redis across replicas (in memory without it), off the response path. `false`: off.",
  }),
  detectionsFlushMs: setting({
    env: 'PDP_DETECTIONS_FLUSH_MS',
    ...numeric(1000),
    schema: { type: 'integer', minimum: 50, maximum: 60000 },
    doc: 'How often each worker sends its queued decisions to the detectors (one pipeline per batch).',
  }),
  graphTenantId: setting({
    env: 'PDP_GRAPH_TENANT_ID',
    ...optional,
    example: '00000000-0000-0000-0000-000000000000',
    schema: { type: ['string', 'null'], pattern: '^[A-Za-z0-9.-]{1,128}$' },
    section: 'Microsoft Graph sync (README: Syncing from Microsoft Entra)',
    doc: 'The Entra tenant (id or verified domain) to sync from; unset: no sync. Needs a shared Redis.',
  }),
  graphPdpTenant: setting({
    env: 'PDP_GRAPH_PDP_TENANT',
    ...string('default'),
    schema: { type: 'string', pattern: TENANT_PATTERN },
    doc: 'The PDP tenant the synced directory, risk and policies go to.',
  }),
  graphClientId: setting({
    env: 'PDP_GRAPH_CLIENT_ID',
    ...optional,
    example: '11111111-1111-1111-1111-111111111111',
    schema: { type: ['string', 'null'], minLength: 1, maxLength: 128 },
    doc: "The sync app registration's application (client) id.",
  }),
  graphClientSecret: setting({
    env: 'PDP_GRAPH_CLIENT_SECRET',
    ...optional,
    example: '',
    schema: { type: ['string', 'null'], minLength: 1 },
    doc: 'Its client secret; prefer a certificate (PDP_GRAPH_CLIENT_CERTIFICATE and PDP_GRAPH_CLIENT_KEY).',
  }),
  graphClientCertificate: setting({
    env: 'PDP_GRAPH_CLIENT_CERTIFICATE',
    ...keyMaterial,
    example: '/etc/agent-pdp/graph/client.crt',
    schema: NULLABLE_TEXT,
    doc: "PEM certificate registered on the app (inline or a file): its SHA-1 thumbprint is the assertion's `x5t`.",
  }),
  graphClientKey: setting({
    env: 'PDP_GRAPH_CLIENT_KEY',
    ...keyMaterial,
    example: '/etc/agent-pdp/graph/client.key',
    schema: NULLABLE_TEXT,
    doc: 'PEM private key of that certificate (PKCS#8): signs the client assertion (RS256).',
  }),
  graphAuthorityUrl: setting({
    env: 'PDP_GRAPH_AUTHORITY_URL',
    ...string('https://login.microsoftonline.com'),
    schema: { type: 'string', pattern: '^https?://[^?#]+$' },
    doc: 'Token authority; `/<tenant>/oauth2/v2.0/token` is appended (sovereign clouds: e.g. `https://login.microsoftonline.us`).',
  }),
  graphBaseUrl: setting({
    env: 'PDP_GRAPH_BASE_URL',
    ...string('https://graph.microsoft.com/beta'),
    schema: { type: 'string', pattern: '^https?://[^?#]+$' },
    doc: "Graph root with its version; the token's scope is its origin + `/.default`. `@odata.nextLink`s must stay on its origin.",
  }),
  graphSyncIntervalSeconds: setting({
    env: 'PDP_GRAPH_SYNC_INTERVAL_SECONDS',
    ...numeric(60),
    schema: { type: 'number', minimum: 0.05, maximum: 86400 },
    doc: 'Incremental sync period (delta where Graph has one, listings elsewhere).',
  }),
  graphFullSyncIntervalSeconds: setting({
    env: 'PDP_GRAPH_FULL_SYNC_INTERVAL_SECONDS',
    ...numeric(3600),
    schema: { type: 'number', minimum: 0.05, maximum: 604800 },
    doc: 'Full resync period: every collection listed whole, delta links restarted.',
  }),
  graphDelta: setting({
    env: 'PDP_GRAPH_DELTA',
    default: 'true',
    parse: (raw) => text(raw) !== 'false',
    schema: { type: 'boolean' },
    doc: 'Track agent identities and agent users with delta queries (needs `Application.Read.All` and `User.Read.All`); `false`: list them whole every cycle with the narrower agent permissions.',
  }),
  graphLeaseSeconds: setting({
    env: 'PDP_GRAPH_LEASE_SECONDS',
    ...numeric(30),
    schema: { type: 'number', minimum: 0.2, maximum: 3600 },
    doc: 'Redis lease of the one syncing replica; another takes over within this long (plus one tick, at most a second) of its death.',
  }),
  graphTimeoutMs: setting({
    env: 'PDP_GRAPH_TIMEOUT_MS',
    ...numeric(10000),
    schema: { type: 'integer', minimum: 50, maximum: 120000 },
    doc: 'Per-request timeout against Graph and the token endpoint.',
  }),
  graphConcurrency: setting({
    env: 'PDP_GRAPH_CONCURRENCY',
    ...numeric(4),
    schema: { type: 'integer', minimum: 1, maximum: 32 },
    doc: 'Graph requests in flight at once.',
  }),
  graphMaxRetries: setting({
    env: 'PDP_GRAPH_MAX_RETRIES',
    ...numeric(5),
    schema: { type: 'integer', minimum: 0, maximum: 20 },
    doc: 'Retries of one request (429, 5xx, timeouts) before the sync of that resource fails.',
  }),

  apiKeys: setting({
    env: 'PDP_API_KEYS',
    default: null,
    example: 'issuer:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae:decide',
    parse: (raw): readonly ApiKeyEntry[] => parseApiKeys(raw),
    schema: { type: 'array' },
    section: 'Callers',
    doc: `Caller API keys: \`name:sha256hex:role|role\`, comma-separated, or a JSON array of \`{"name","sha256","roles"}\` (roles: ${ROLES.join(', ')}).`,
  }),
  callerIssuer: setting({
    env: 'PDP_CALLER_ISSUER',
    ...optional,
    example: 'https://idp.example.com',
    schema: NULLABLE_TEXT,
    doc: 'JWT-authenticated callers: the issuer (`PDP_CALLER_ISSUER`, `PDP_CALLER_JWKS_URL` and `PDP_CALLER_AUDIENCE` go together).',
  }),
  callerJwksUrl: setting({
    env: 'PDP_CALLER_JWKS_URL',
    ...optional,
    example: 'https://idp.example.com/.well-known/jwks.json',
    schema: { type: ['string', 'null'], pattern: '^https?://' },
    doc: "JWT-authenticated callers: the issuer's JWKS URL.",
  }),
  callerAudience: setting({
    env: 'PDP_CALLER_AUDIENCE',
    ...optional,
    example: 'agent-pdp',
    schema: NULLABLE_TEXT,
    doc: 'JWT-authenticated callers: the audience.',
  }),
  callerRolesClaim: setting({
    env: 'PDP_CALLER_ROLES_CLAIM',
    ...string('roles'),
    schema: { type: 'string', minLength: 1 },
    doc: "JWT-authenticated callers: the claim holding the caller's roles.",
  }),
  tlsCert: setting({
    env: 'PDP_TLS_CERT',
    ...keyMaterial,
    example: '/etc/agent-pdp/tls/tls.crt',
    schema: { type: ['string', 'null'] },
    doc: 'HTTPS: the certificate chain (PEM text or a file path), with `PDP_TLS_KEY`.',
  }),
  tlsKey: setting({
    env: 'PDP_TLS_KEY',
    ...keyMaterial,
    example: '/etc/agent-pdp/tls/tls.key',
    schema: { type: ['string', 'null'] },
    doc: 'HTTPS: the private key (PEM text or a file path), with `PDP_TLS_CERT`.',
  }),
  tlsClientCa: setting({
    env: 'PDP_TLS_CLIENT_CA',
    ...keyMaterial,
    example: '/etc/agent-pdp/tls/ca.crt',
    schema: { type: ['string', 'null'] },
    doc: 'Mutual TLS: the CA of client certificates (PEM text or a file path).',
  }),

  maxTtlSeconds: setting({
    env: 'PDP_MAX_TTL_SECONDS',
    ...numeric(86400),
    schema: { type: 'integer', minimum: 60 },
    section: 'Decisions',
    doc: 'Global cap of a decision token lifetime.',
  }),
  defaultTtlSeconds: setting({
    env: 'PDP_DEFAULT_TTL_SECONDS',
    ...numeric(3600),
    schema: { type: 'integer', minimum: 60 },
    doc: 'Token lifetime when no policy sets one; at most `PDP_MAX_TTL_SECONDS`.',
  }),
  bodyLimitBytes: setting({
    env: 'PDP_BODY_LIMIT_BYTES',
    ...numeric(65536),
    schema: { type: 'integer', minimum: 1024, maximum: 16777216 },
    doc: 'Request body limit (413 beyond).',
  }),

  trustedIssuers: setting({
    env: 'PDP_TRUSTED_ISSUERS',
    default: null,
    example:
      '[{"issuer":"https://login.example.com/t/v2.0","jwks_uri":"https://login.example.com/t/discovery/v2.0/keys","audiences":["api://payments"],"tenant":"default","algorithms":["RS256"]}]',
    parse: (raw): readonly TrustedIssuer[] => parseTrustedIssuers(raw),
    schema: { type: 'array' },
    section: 'Gateway (/v1/authorize)',
    doc: 'Agent-token issuers for `/v1/authorize`: JSON, or a file path holding it.',
  }),
  gatewayPathPrefix: setting({
    env: 'PDP_GATEWAY_PATH_PREFIX',
    ...string('/v1/authorize'),
    schema: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$' },
    doc: "Envoy ext_authz `path_prefix`: stripped from the check request's path to recover the original.",
  }),
  mcpBodyLimitBytes: setting({
    env: 'PDP_MCP_BODY_LIMIT_BYTES',
    ...numeric(262144),
    schema: { type: 'integer', minimum: 1024, maximum: 16777216 },
    doc: 'Largest forwarded body `/v1/authorize` reads for an MCP route (413 beyond); other routes never read it.',
  }),
  trustedProxyHops: setting({
    env: 'PDP_TRUSTED_PROXY_HOPS',
    ...numeric(1),
    schema: { type: 'integer', minimum: 0, maximum: 10 },
    doc: 'Proxies in front of the PDP whose `X-Forwarded-For` entries are trusted (`0`: the socket address).',
  }),
  clockToleranceSeconds: setting({
    env: 'PDP_CLOCK_TOLERANCE_SECONDS',
    ...numeric(30),
    schema: { type: 'integer', minimum: 0, maximum: 300 },
    doc: "Leeway on agent tokens' `exp` and `nbf`.",
  }),
  tokenCacheMaxEntries: setting({
    env: 'PDP_TOKEN_CACHE_MAX_ENTRIES',
    ...numeric(10000),
    schema: { type: 'integer', minimum: 0 },
    doc: 'Verified-token cache size.',
  }),
  maxTokenBytes: setting({
    env: 'PDP_MAX_TOKEN_BYTES',
    ...numeric(16384),
    schema: { type: 'integer', minimum: 1024, maximum: 65536 },
    doc: 'Largest agent token accepted; a larger one is a 401.',
  }),

  decisionLog: setting({
    env: 'PDP_DECISION_LOG',
    ...string('stdout'),
    schema: { type: 'string', minLength: 1 },
    section: 'Decision logs',
    doc: 'Sink: `stdout` | `file:<path>` | `redis-stream:<key>` | `http:<url>` | `off`.',
  }),
  decisionLogMask: setting({
    env: 'PDP_DECISION_LOG_MASK',
    default: null,
    example: '/input/request/context/ssn',
    parse: (raw): readonly string[] =>
      (text(raw) ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    schema: { type: 'array', items: { type: 'string', pattern: '^(/([^~]|~[01])*)+$' } },
    doc: 'Extra JSON pointers to erase from records, comma-separated (credentials in the request context are erased by default).',
  }),
  decisionLogBuffer: setting({
    env: 'PDP_DECISION_LOG_BUFFER',
    ...numeric(10000),
    schema: { type: 'integer', minimum: 100, maximum: 10000000 },
    doc: 'Records buffered off the response path; beyond it records are dropped and counted.',
  }),

  logLevel: setting({
    env: 'LOG_LEVEL',
    ...string<LogLevel>('info'),
    schema: { enum: LOG_LEVELS },
    section: 'Process',
    doc: `pino level: ${LOG_LEVELS.join(', ')}.`,
  }),
  shutdownDelayMs: setting({
    env: 'PDP_SHUTDOWN_DELAY_MS',
    ...numeric(0),
    schema: { type: 'integer', minimum: 0, maximum: 120000 },
    doc: 'On SIGTERM readiness turns false, then after this delay (ms) the listeners close.',
  }),
  shutdownTimeoutMs: setting({
    env: 'PDP_SHUTDOWN_TIMEOUT_MS',
    ...numeric(10000),
    schema: { type: 'integer', minimum: 100, maximum: 600000 },
    doc: 'Drain deadline (ms): in-flight requests finish, decision logs flush and Redis closes within it.',
  }),
};

export type SettingName = keyof typeof SETTINGS;

/** Each setting's value as its `parse` gives it. */
export type SettingValues = {
  readonly [K in SettingName]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never;
};
