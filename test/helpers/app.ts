import path from 'node:path';
import pino from 'pino';
import { createAdminApp, createApp, type Apps } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { DecisionSinks } from '../../src/decision/observer';
import { createValidators } from '../../src/decision/validators';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import { Metrics } from '../../src/metrics';
import { localBackend } from '../../src/ops/backend';
import { buildServices, createEngine, type Services } from '../../src/services';
import { RedisStore, type RedisStoreOptions } from '../../src/store/redis-store';
import { seedStore } from '../../src/store/seed';
import type { SignalStore } from '../../src/store/types';
import type { Express } from 'express';

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

/** The service's configuration with its defaults (an empty environment), as a test changes it. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    bundle: BUNDLE,
    dataDir: EXAMPLE_DATA,
    decisionLog: 'off',
    publicBaseUrl: 'https://pdp.test.example',
    // Background workers a test does not exercise stay off: their timers would act at moments
    // the test does not control (tests/integration/detections and lifecycle turn them on).
    detections: false,
    lifecycleIntervalSeconds: 0,
    ...overrides,
  };
}

/** The engine the service builds (createEngine), loaded; a bundle that does not load throws. */
export async function makeEngine(
  opts: { dataDir?: string | null; bundle?: string; clock?: () => number } = {},
): Promise<PolicyEngine> {
  const engine = createEngine(
    testConfig({
      bundle: opts.bundle ?? BUNDLE,
      dataDir: opts.dataDir === undefined ? EXAMPLE_DATA : opts.dataDir,
    }),
    { logger: silentLogger, clock: opts.clock ?? Date.now },
  );
  await engine.reload();
  return engine;
}

export async function seeded(store: SignalStore, clock: () => number = Date.now): Promise<SignalStore> {
  await seedStore(store, EXAMPLE_DIRECTORY, createValidators(), clock());
  return store;
}

export interface TestApp extends Apps {
  /** The admin port's app, with the same caller authentication as `api`. */
  admin: Express;
  services: Services;
  engine: PolicyEngine;
  store: SignalStore;
  metrics: Metrics;
}

/**
 * The service as buildServices wires it, in memory: the example directory in a MemoryStore (as
 * without REDIS_URL, or `store`), the example policies (or `engine`), a silent logger, metrics
 * without process metrics, no decision log (or the `log` hook).
 */
export async function makeApp(
  opts: {
    store?: SignalStore;
    engine?: PolicyEngine;
    clock?: () => number;
    apiKeys?: Config['apiKeys'];
    bodyLimitBytes?: number;
    trustedIssuers?: Config['trustedIssuers'];
    trustedProxyHops?: number;
    /** Any other setting, as PDP_* would set it (caller JWT, a bundle that does not load...). */
    config?: Partial<Config>;
    /** The decision-log hook: what the decision log would record. */
    log?: NonNullable<DecisionSinks['log']>;
  } = {},
): Promise<TestApp> {
  const clock = opts.clock ?? Date.now;
  const config = testConfig({
    ...(opts.apiKeys !== undefined && { apiKeys: opts.apiKeys }),
    ...(opts.bodyLimitBytes !== undefined && { bodyLimitBytes: opts.bodyLimitBytes }),
    ...(opts.trustedIssuers !== undefined && { trustedIssuers: opts.trustedIssuers }),
    ...(opts.trustedProxyHops !== undefined && { trustedProxyHops: opts.trustedProxyHops }),
    ...opts.config,
  });
  const services = await buildServices(config, {
    logger: silentLogger,
    clock,
    metrics: new Metrics({ defaultMetrics: false }),
    ...(opts.store !== undefined && { store: opts.store }),
    ...(opts.engine !== undefined && { engine: opts.engine }),
    log: opts.log ?? null,
  });
  const { engine, store, metrics } = services;
  const admin = createAdminApp(services, localBackend(engine, store, metrics));
  return { ...createApp(services), admin, services, engine, store, metrics };
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
