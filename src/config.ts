import { isIP } from 'node:net';
import { parseDecisionLogSpec } from './audit/sink-spec';
import { BundleVerifier } from './engine/bundle-signature';
import { SETTINGS, fail, settingsAjv, type SettingName, type SettingValues } from './settings';

export {
  DEFAULT_BUNDLE,
  DEFAULT_DATA_DIR,
  PROJECT_ROOT,
  parseApiKeys,
  parseTrustedIssuers,
  type ApiKeyEntry,
  type HostPort,
  type LogLevel,
} from './settings';
export { ROLES, type Role } from './vocabulary';

/** The settings of src/settings.ts, read, validated and frozen; the public base URL resolved. */
export type Config = Omit<SettingValues, 'publicBaseUrl'> & {
  /**
   * The PDP's public base URL, published in the AuthZEN metadata: PDP_PUBLIC_BASE_URL (https), or
   * derived from host, port and TLS. Never taken from a request's Host header.
   */
  readonly publicBaseUrl: string;
};

/** True when a shared Redis (any topology) is configured. */
export function hasRedis(config: Pick<Config, 'redisUrl' | 'redisSentinels' | 'redisClusterNodes'>): boolean {
  return config.redisUrl !== null || config.redisSentinels.length > 0 || config.redisClusterNodes.length > 0;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

const NAMES = Object.keys(SETTINGS) as SettingName[];
const ENV_OF: ReadonlyMap<string, string> = new Map(NAMES.map((name) => [name, SETTINGS[name].env]));

const validate = settingsAjv.compile({
  type: 'object',
  additionalProperties: false,
  required: NAMES,
  properties: Object.fromEntries(NAMES.map((name) => [name, SETTINGS[name].schema])),
});

/** Every setting read through its parser, in table order (a parse error stops at the first). */
function readSettings(env: NodeJS.ProcessEnv): SettingValues {
  const values = new Map<string, unknown>();
  for (const name of NAMES) {
    const s = SETTINGS[name];
    values.set(name, s.parse(env[s.env], s.env, env));
  }
  return Object.fromEntries(values) as SettingValues;
}

/** Reads the environment once into a validated, frozen Config. The only reader of process.env. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = readSettings(env);
  if (!validate(config)) {
    const first = validate.errors?.[0];
    const field = first?.instancePath.split('/')[1] ?? '';
    fail(ENV_OF.get(field) ?? field, first?.message ?? 'invalid');
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
  if (config.graphTenantId !== null) {
    if (config.graphClientId === null) fail('PDP_GRAPH_CLIENT_ID', 'is required with PDP_GRAPH_TENANT_ID');
    const cert = config.graphClientCertificate !== null || config.graphClientKey !== null;
    if (cert && (config.graphClientCertificate === null || config.graphClientKey === null)) {
      fail(
        'PDP_GRAPH_CLIENT_CERTIFICATE',
        'PDP_GRAPH_CLIENT_CERTIFICATE and PDP_GRAPH_CLIENT_KEY go together',
      );
    }
    if (cert === (config.graphClientSecret !== null)) {
      fail(
        'PDP_GRAPH_CLIENT_SECRET',
        'set either a client secret or a certificate and key, not both or neither',
      );
    }
    if (!hasRedis(config)) fail('PDP_GRAPH_TENANT_ID', 'the Graph sync needs a shared Redis (REDIS_URL)');
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
function parsePublicBaseUrl(raw: string): string {
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
