import { createHash } from 'node:crypto';
import { DEFAULT_BUNDLE, DEFAULT_DATA_DIR, loadConfig, parseApiKeys } from '../../src/config';
import { PdpError } from '../../src/errors';

const hash = createHash('sha256').update('secret').digest('hex');

describe('loadConfig', () => {
  it('has the documented defaults and is frozen', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8181,
      adminPort: 9191,
      host: '127.0.0.1',
      workers: 1,
      bundle: DEFAULT_BUNDLE,
      dataDir: DEFAULT_DATA_DIR,
      bundlePollSeconds: 2,
      dataPollSeconds: 60,
      redisUrl: null,
      cacheTtlMs: 2000,
      staleIfErrorSeconds: 300,
      storeTimeoutMs: 50,
      storeBreakerThreshold: 5,
      storeBreakerHalfOpenMs: 1000,
      storeBreakerHalfOpenMaxMs: 2000,
      maxTtlSeconds: 86400,
      defaultTtlSeconds: 3600,
      bodyLimitBytes: 65536,
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ PDP_PORT: 'eighty' }, /^PDP_PORT: expected a number/],
    [{ PDP_PORT: '70000' }, /^PDP_PORT: must be <= 65535/],
    [{ PDP_CACHE_TTL_MS: '-1' }, /^PDP_CACHE_TTL_MS: must be >= 0/],
    [{ PDP_STORE_TIMEOUT_MS: '0' }, /^PDP_STORE_TIMEOUT_MS: must be >= 1/],
    [{ PDP_STORE_TIMEOUT_MS: '2.5' }, /^PDP_STORE_TIMEOUT_MS: must be integer/],
    [{ PDP_STORE_BREAKER_THRESHOLD: '0' }, /^PDP_STORE_BREAKER_THRESHOLD: must be >= 1/],
    [{ PDP_STORE_BREAKER_HALF_OPEN_MS: 'soon' }, /^PDP_STORE_BREAKER_HALF_OPEN_MS: expected a number/],
    [
      { PDP_STORE_BREAKER_HALF_OPEN_MS: '5000', PDP_STORE_BREAKER_HALF_OPEN_MAX_MS: '1000' },
      /^PDP_STORE_BREAKER_HALF_OPEN_MAX_MS: must not be below PDP_STORE_BREAKER_HALF_OPEN_MS/,
    ],
    [{ PDP_GRAPH_TENANT_ID: 'contoso' }, /^PDP_GRAPH_CLIENT_ID: is required with PDP_GRAPH_TENANT_ID/],
    [
      { PDP_GRAPH_TENANT_ID: 'contoso', PDP_GRAPH_CLIENT_ID: 'app', REDIS_URL: 'redis://x:1' },
      /^PDP_GRAPH_CLIENT_SECRET: set either a client secret or a certificate and key, not both or neither/,
    ],
    [
      {
        PDP_GRAPH_TENANT_ID: 'contoso',
        PDP_GRAPH_CLIENT_ID: 'app',
        PDP_GRAPH_CLIENT_CERTIFICATE: '-----BEGIN CERTIFICATE-----',
      },
      /^PDP_GRAPH_CLIENT_CERTIFICATE: PDP_GRAPH_CLIENT_CERTIFICATE and PDP_GRAPH_CLIENT_KEY go together/,
    ],
    [
      { PDP_GRAPH_TENANT_ID: 'contoso', PDP_GRAPH_CLIENT_ID: 'app', PDP_GRAPH_CLIENT_SECRET: 's' },
      /^PDP_GRAPH_TENANT_ID: the Graph sync needs a shared Redis/,
    ],
    [{ PDP_GRAPH_TENANT_ID: 'bad/tenant' }, /^PDP_GRAPH_TENANT_ID: must match pattern/],
    [{ PDP_GRAPH_BASE_URL: 'ftp://graph' }, /^PDP_GRAPH_BASE_URL: must match pattern/],
    [{ PDP_GRAPH_LEASE_SECONDS: '0' }, /^PDP_GRAPH_LEASE_SECONDS: must be >= 0.2/],
    [{ PDP_DATA_POLL_SECONDS: '-5' }, /^PDP_DATA_POLL_SECONDS: must be >= 0/],
    [{ REDIS_URL: 'http://x' }, /^REDIS_URL: must match pattern/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be equal to one of/],
    [
      { PDP_DEFAULT_TTL_SECONDS: '7200', PDP_MAX_TTL_SECONDS: '3600' },
      /^PDP_DEFAULT_TTL_SECONDS: must not exceed/,
    ],
    [{ PDP_HOST: '0.0.0.0' }, /^PDP_HOST: refusing to bind 0\.0\.0\.0 with no caller authentication/],
    [{ PDP_API_KEYS: 'ci:nothex:decide' }, /^PDP_API_KEYS: entry 0: sha256/],
    [{ PDP_API_KEYS: `ci:${hash}:root` }, /^PDP_API_KEYS: entry 0: roles/],
    [{ PDP_API_KEYS: '[oops' }, /^PDP_API_KEYS: is not valid JSON/],
    [{ PDP_WORKERS: '2' }, /^PDP_WORKERS: more than one worker needs a shared Redis/],
    [{ PDP_WORKERS: '0', REDIS_URL: 'redis://x:1' }, /^PDP_WORKERS: must be >= 1/],
    [{ REDIS_SENTINELS: 'a:1' }, /^REDIS_SENTINEL_MASTER: is required with REDIS_SENTINELS/],
    [{ REDIS_CLUSTER_NODES: 'a:1,nope' }, /^REDIS_CLUSTER_NODES: "nope" is not host:port/],
    [{ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'a:1' }, /^REDIS_URL: set only one of/],
    [
      { PDP_TLS_CERT: '-----BEGIN CERTIFICATE-----x' },
      /^PDP_TLS_CERT: PDP_TLS_CERT and PDP_TLS_KEY go together/,
    ],
    [{ PDP_TLS_CERT: '/nonexistent/cert.pem' }, /^PDP_TLS_CERT: cannot read \/nonexistent\/cert\.pem/],
    [
      { PDP_CALLER_ISSUER: 'https://idp' },
      /^PDP_CALLER_ISSUER: PDP_CALLER_ISSUER, PDP_CALLER_JWKS_URL and PDP_CALLER_AUDIENCE go together/,
    ],
    [{ PDP_DECISION_LOG: 'syslog' }, /^PDP_DECISION_LOG: /],
    [{ PDP_DECISION_LOG_MASK: 'no-slash' }, /^PDP_DECISION_LOG_MASK: must match pattern/],
    [
      {
        PDP_TRUSTED_ISSUERS:
          '[{"issuer":"x","audiences":["a"],"algorithms":["HS256"],"jwks_uri":"https://x"}]',
      },
      /^PDP_TRUSTED_ISSUERS: \/0\/algorithms\/0 must be one of/,
    ],
    [{ PDP_TRUSTED_ISSUERS: '/nonexistent/issuers.json' }, /^PDP_TRUSTED_ISSUERS: cannot read/],
    [{ PDP_GATEWAY_PATH_PREFIX: 'authorize' }, /^PDP_GATEWAY_PATH_PREFIX: must match pattern/],
    [{ PDP_SHUTDOWN_TIMEOUT_MS: '5' }, /^PDP_SHUTDOWN_TIMEOUT_MS: must be >= 100/],
    [
      { PDP_BUNDLE_VERIFY_KEY: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----' },
      /^PDP_BUNDLE_VERIFY_KEY: /,
    ],
    [
      { PDP_PUBLIC_BASE_URL: 'pdp.example.com' },
      /^PDP_PUBLIC_BASE_URL: "pdp\.example\.com" is not an absolute URL/,
    ],
    [{ PDP_PUBLIC_BASE_URL: 'http://pdp.example.com' }, /^PDP_PUBLIC_BASE_URL: must be an https URL/],
    [
      { PDP_PUBLIC_BASE_URL: 'https://u:p@pdp.example.com' },
      /^PDP_PUBLIC_BASE_URL: must not hold credentials/,
    ],
    [{ PDP_PUBLIC_BASE_URL: 'https://pdp.example.com/?x=1' }, /^PDP_PUBLIC_BASE_URL: must not have a query/],
    [{ PDP_PUBLIC_BASE_URL: 'https://pdp.example.com/#top' }, /^PDP_PUBLIC_BASE_URL: must not have a query/],
    [{ PDP_PUBLIC_BASE_URL: 'https://pdp.example.com?' }, /^PDP_PUBLIC_BASE_URL: must not have a query/],
  ])('refuses %j naming the variable', (env, message) => {
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PdpError);
    expect((thrown as PdpError).code).toBe('config_invalid');
    expect((thrown as PdpError).message).toMatch(message);
  });

  it('binds off loopback once callers must authenticate', () => {
    const config = loadConfig({ PDP_HOST: '0.0.0.0', PDP_API_KEYS: `gw:${hash}:authorize|decide` });
    expect(config.host).toBe('0.0.0.0');
    expect(config.apiKeys).toEqual([{ name: 'gw', sha256: hash, roles: ['authorize', 'decide'] }]);
  });

  it('uses one worker per core with Redis and one without', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).workers).toBeGreaterThanOrEqual(1);
    expect(loadConfig({ PDP_DATA_DIR: '' }).dataDir).toBeNull();
  });

  it('publishes PDP_PUBLIC_BASE_URL, else the listener URL, never anything from a request', () => {
    expect(loadConfig({}).publicBaseUrl).toBe('http://127.0.0.1:8181');
    expect(loadConfig({ PDP_HOST: '::1', PDP_PORT: '9000' }).publicBaseUrl).toBe('http://[::1]:9000');
    expect(
      loadConfig({
        PDP_PUBLIC_BASE_URL: 'https://PDP.Example.com:443/authz/',
      }).publicBaseUrl,
    ).toBe('https://pdp.example.com/authz');
    expect(loadConfig({ PDP_PUBLIC_BASE_URL: 'https://pdp.example.com:8443' }).publicBaseUrl).toBe(
      'https://pdp.example.com:8443',
    );
  });

  it('parses JSON API key lists', () => {
    expect(
      parseApiKeys(JSON.stringify([{ name: 'a', sha256: hash.toUpperCase(), roles: ['admin'] }])),
    ).toEqual([{ name: 'a', sha256: hash, roles: ['admin'] }]);
  });
});
