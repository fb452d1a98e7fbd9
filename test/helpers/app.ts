import path from 'node:path';
import pino from 'pino';
import { createApp, type Apps } from '../../src/app';
import type { TrustedIssuer } from '../../src/auth/agent-tokens';
import type { CallerAuth } from '../../src/auth/caller-auth';
import type { DecisionSinks } from '../../src/decision/observer';
import { createValidators } from '../../src/decision/validators';
import { PolicyEngine } from '../../src/engine/policy-engine';
import { MemoryStore } from '../../src/store/memory-store';
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis-store';
import { seedStore } from '../../src/store/seed';
import type { SignalStore } from '../../src/store/types';

export const ROOT = path.resolve(__dirname, '../..');
export const BUNDLE = path.join(ROOT, 'build/policies/bundle.tar.gz');
export const EXAMPLE_DATA = path.join(ROOT, 'policies/data');
export const EXAMPLE_DIRECTORY = path.join(ROOT, 'examples/directory.json');
export const silentLogger = pino({ level: 'silent' });

/** A settable clock: tests move time instead of sleeping. */
export class TestClock {
  constructor(public ms = Date.parse('2026-11-27T12:00:00Z')) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export async function makeEngine(
  opts: { dataDir?: string | null; bundle?: string; clock?: () => number } = {},
): Promise<PolicyEngine> {
  const engine = new PolicyEngine({
    bundle: opts.bundle ?? BUNDLE,
    dataDir: opts.dataDir === undefined ? EXAMPLE_DATA : opts.dataDir,
    defaultTtlSeconds: 3600,
    maxTtlSeconds: 86400,
    logger: silentLogger,
    clock: opts.clock ?? Date.now,
  });
  await engine.reload();
  return engine;
}

export async function seeded(store: SignalStore, clock: () => number = Date.now): Promise<SignalStore> {
  await seedStore(store, EXAMPLE_DIRECTORY, createValidators(), clock());
  return store;
}

export interface TestApp extends Apps {
  engine: PolicyEngine;
  store: SignalStore;
}

export async function makeApp(
  opts: {
    store?: SignalStore;
    engine?: PolicyEngine;
    clock?: () => number;
    apiKeys?: Parameters<typeof createApp>[0]['config']['apiKeys'];
    bodyLimitBytes?: number;
    trustedIssuers?: TrustedIssuer[];
    trustedProxyHops?: number;
    auth?: CallerAuth;
    /** The decision-log hook: what the decision log would record. */
    log?: DecisionSinks['log'];
  } = {},
): Promise<TestApp> {
  const clock = opts.clock ?? Date.now;
  const store = opts.store ?? (await seeded(new MemoryStore(), clock));
  const engine = opts.engine ?? (await makeEngine({ clock }));
  const apps = createApp({
    config: {
      bodyLimitBytes: opts.bodyLimitBytes ?? 65536,
      apiKeys: opts.apiKeys ?? [],
      trustedIssuers: opts.trustedIssuers ?? [],
      gatewayPathPrefix: '/v1/authorize',
      trustedProxyHops: opts.trustedProxyHops ?? 1,
      clockToleranceSeconds: 30,
      tokenCacheMaxEntries: 10_000,
      maxTokenBytes: 16_384,
      publicBaseUrl: 'https://pdp.test.example',
      callerIssuer: null,
      callerJwksUrl: null,
      callerAudience: null,
      callerRolesClaim: 'roles',
      tlsClientCa: null,
    },
    engine,
    store,
    logger: silentLogger,
    clock,
    ...(opts.auth !== undefined && { auth: opts.auth }),
    ...(opts.log !== undefined && { log: opts.log }),
  });
  return { ...apps, engine, store };
}

export async function redisStore(
  url: string,
  opts: Partial<Omit<RedisStoreOptions, 'maxEntries'>> = {},
): Promise<RedisStore> {
  return RedisStore.connect(url, {
    ...opts,
    cacheTtlMs: opts.cacheTtlMs ?? 2000,
    staleIfErrorMs: opts.staleIfErrorMs ?? 300_000,
    maxEntries: 10_000,
    clock: opts.clock ?? Date.now,
    logger: opts.logger ?? silentLogger,
  });
}

/** The README's example request. */
export function decideBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tenant: 'default',
    flow: 'autonomous',
    agent_id: 'agt-7f3a',
    resource: 'api://payments',
    scopes: ['payments.read', 'payments.write'],
    requested_ttl_seconds: 3600,
    client: { ip: '198.51.100.7', country: 'NL' },
    ...overrides,
  };
}
