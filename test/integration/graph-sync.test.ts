/**
 * The Microsoft Graph sync against a local Graph stand-in (test/helpers/graph-stand-in.ts, whose
 * header names the Microsoft documentation pages each shape comes from): a real HTTP server, a
 * real Redis, real certificate-signed client assertions, the real engine and store.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { createAdminApp, createApp } from '../../src/app';
import type { Config } from '../../src/config';
import { createValidators } from '../../src/decision/validators';
import type { DecisionService } from '../../src/decision/service';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import { createGraphSync, graphRedis, type GraphSyncRuntime } from '../../src/graph';
import { GraphDocumentStore } from '../../src/graph/documents';
import type { SyncState } from '../../src/graph/sync';
import { Metrics } from '../../src/metrics';
import { localBackend } from '../../src/ops/backend';
import type { DecideRequest } from '../../src/schemas/requests';
import { buildServices, createEngine, type Services } from '../../src/services';
import { MemoryStore } from '../../src/store/memory-store';
import type { RedisClient } from '../../src/store/redis-connection';
import { seedStore } from '../../src/store/seed';
import type { SignalStore } from '../../src/store/types';
import { EXAMPLE_DATA, redisStore, silentLogger, testConfig } from '../helpers/app';
import { GraphStandIn } from '../helpers/graph-stand-in';
import { exampleDirectory, loadStandIn, type PdpDirectory } from '../helpers/graph-tenant';
import { RedisProcess } from '../helpers/redis-server';

jest.setTimeout(120_000);

const TENANT_ID = 'contoso-test';
const CLIENT_ID = 'pdp-graph-sync';
const INTERVAL_S = 0.3;
/** Long enough that a loaded machine's paused event loop does not lose it mid-cycle. */
const LEASE_S = 3;

let redis: RedisProcess;
let admin: Redis;
let g: GraphStandIn;
let certPem: string;
let keyPem: string;
const open: (() => Promise<void>)[] = [];

function makeCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pdp-graph-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'k.pem',
      '-out',
      'c.pem',
      '-days',
      '1',
      '-subj',
      '/CN=pdp-graph-sync',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  return {
    cert: readFileSync(path.join(dir, 'c.pem'), 'utf8'),
    key: readFileSync(path.join(dir, 'k.pem'), 'utf8'),
  };
}

beforeAll(async () => {
  redis = await RedisProcess.start();
  admin = new Redis(redis.url);
  ({ cert: certPem, key: keyPem } = makeCertificate());
  g = new GraphStandIn(TENANT_ID, CLIENT_ID, { certificatePem: certPem });
  await g.start();
});

afterAll(async () => {
  admin.disconnect();
  await g.stop();
  await redis.stop();
});

beforeEach(async () => {
  await admin.flushall();
  g.faults.length = 0;
  g.log.length = 0;
  g.pageSize = 2;
  loadStandIn(g, exampleDirectory());
});

afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

function graphConfig(over: Partial<Config> = {}): Config {
  return testConfig({
    redisUrl: redis.url,
    dataDir: null,
    graphTenantId: TENANT_ID,
    graphClientId: CLIENT_ID,
    graphClientCertificate: certPem,
    graphClientKey: keyPem,
    graphAuthorityUrl: g.authorityUrl,
    graphBaseUrl: g.baseUrl,
    graphSyncIntervalSeconds: INTERVAL_S,
    graphFullSyncIntervalSeconds: 3600,
    graphLeaseSeconds: LEASE_S,
    graphTimeoutMs: 2000,
    graphConcurrency: 4,
    graphMaxRetries: 2,
    ...over,
  });
}

interface Replica {
  name: string;
  services: Services;
  engine: PolicyEngine;
  store: SignalStore;
  graph: GraphSyncRuntime;
  decisions: DecisionService;
  clients: { commands: RedisClient; subscriber: RedisClient };
  metrics: Metrics;
  kill(): void;
}

const cycles: { replica: string; event: 'start' | 'end'; at: number }[] = [];

/** One PDP replica as the worker wires it: Redis store, engine fed by the Graph documents, the sync worker. */
async function replica(name: string, over: Partial<Config> = {}): Promise<Replica> {
  const config = graphConfig(over);
  // A generous read budget: a loaded CI machine must not turn a slow read into signals_unavailable.
  const store = await redisStore(redis.url, { readBudgetMs: 2000 });
  const clients = await graphRedis(config);
  const metrics = new Metrics({ defaultMetrics: false });
  const engine = createEngine(config, {
    logger: silentLogger,
    clock: Date.now,
    documents: new GraphDocumentStore(clients.commands),
  });
  await engine.reload();
  let alive = true;
  const graph = createGraphSync(config, {
    store,
    validators: createValidators(),
    logger: silentLogger,
    clock: Date.now,
    metrics,
    redis: clients,
    onCycle: (event) => {
      if (alive) cycles.push({ replica: name, event, at: Date.now() });
    },
  });
  const services = await buildServices(config, {
    logger: silentLogger,
    metrics,
    store,
    engine,
    graph,
    log: null,
  });
  graph.start(() => engine.reloadIfDocumentsChanged());
  const r: Replica = {
    name,
    services,
    engine,
    store,
    graph,
    clients,
    metrics,
    decisions: createApp(services).decisions,
    kill() {
      // A cycle it was running ends here for the record: its Redis connection is gone, and its
      // remaining writes are refused by the lease check (held for at most the TTL from its last renewal).
      const last = cycles.filter((c) => c.replica === name).at(-1);
      if (last?.event === 'start') cycles.push({ replica: name, event: 'end', at: Date.now() });
      alive = false;
      graph.worker.halt();
      clients.commands.disconnect();
      clients.subscriber.disconnect();
    },
  };
  open.push(async () => {
    if (alive) await services.close(100);
    else await store.close();
    clients.commands.disconnect();
    clients.subscriber.disconnect();
  });
  return r;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | null | false> | T | null | false,
  timeoutMs = 10_000,
  stepMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

async function state(r: Replica): Promise<SyncState> {
  return (await r.graph.control.state()) as SyncState;
}

/** Asks for a cycle and waits for it to finish; returns its state (use with periodic cycles off: one could follow at once). */
async function cycle(r: Replica, kind: 'full' | 'incremental' = 'incremental'): Promise<SyncState> {
  const asked = Date.now();
  await r.graph.control.request(kind);
  // A periodic cycle may come first: wait for one of this kind that started after the request.
  return until(`a ${kind} cycle`, async () => {
    const c = (await state(r)).last_cycle;
    return c !== null && c.kind === kind && Date.parse(c.started_at) >= asked - 5 && c.finished_at !== null
      ? state(r)
      : null;
  });
}

async function firstSync(r: Replica): Promise<SyncState> {
  const s = await until('the first sync', async () => {
    const st = await state(r);
    return st.last_cycle?.outcome === 'success' ? st : null;
  });
  await until(
    'the Graph policy set in the engine',
    () => (r.engine.current?.tenants['default']?.policies.length ?? 0) > 0,
  );
  return s;
}

/** What a decision says, without ids and times. */
function essence(d: Awaited<ReturnType<DecisionService['decide']>>): unknown {
  return {
    decision: d.decision,
    grant: d.grant,
    reasons: d.reasons.map((x) => [x.code, x.policy_id]),
    required_controls: d.required_controls,
    policies: d.policies.map((p) => [p.id, p.result, p.reason]),
    signals: { agent_risk: d.signals.agent_risk, user_risk: d.signals.user_risk, revoked: d.signals.revoked },
  };
}

/** One table of decide requests over the example tenant: every agent, resource and flow the policies tell apart. */
function cases(dir: PdpDirectory): DecideRequest[] {
  const out: DecideRequest[] = [];
  const client = { ip: '203.0.113.7', country: 'NL' };
  const targets: [string, string[]][] = [
    ['api://payments', ['payments.read', 'payments.write']],
    ['api://invoices', ['invoices.read']],
    ['api://search', ['search.query']],
    ['api://docs', ['docs.read']],
  ];
  for (const agent of Object.keys(dir.agents)) {
    for (const [resource, scopes] of targets) {
      out.push({
        tenant: 'default',
        flow: 'autonomous',
        agent_id: agent,
        resource,
        scopes,
        client,
      });
    }
  }
  for (const user of [
    { id: 'u-42', amr: ['pwd'], risk: 'low' },
    { id: 'u-42', amr: ['pwd', 'mfa'], risk: 'none' },
    { id: 'u-risky', amr: ['pwd', 'mfa'] },
  ]) {
    out.push({
      tenant: 'default',
      flow: 'on_behalf_of',
      agent_id: 'agt-7f3a',
      resource: 'api://payments',
      scopes: ['payments.read'],
      user,
      client,
    } as DecideRequest);
  }
  out.push({
    tenant: 'default',
    flow: 'agent_user',
    agent_id: 'agt-7f3a',
    resource: 'api://invoices',
    scopes: ['invoices.read'],
    user: { id: 'au-7f3a' },
    client,
  });
  out.push({
    tenant: 'default',
    flow: 'agent_user',
    agent_id: 'agt-7f3a',
    resource: 'api://invoices',
    scopes: ['invoices.read'],
    user: { id: 'au-research-1' },
    client,
  });
  out.push({
    tenant: 'default',
    flow: 'autonomous',
    agent_id: 'agt-7f3a',
    resource: 'api://payments',
    scopes: ['payments.read'],
    client: { ip: '198.51.100.9', country: 'KP' },
  });
  out.push({
    tenant: 'default',
    flow: 'autonomous',
    agent_id: 'agt-unknown',
    resource: 'api://payments',
    scopes: ['payments.read'],
    client,
  });
  return out;
}

const allowSafe: DecideRequest = {
  tenant: 'default',
  flow: 'autonomous',
  agent_id: 'agt-7f3a',
  resource: 'api://payments',
  scopes: ['payments.read'],
  client: { ip: '203.0.113.7', country: 'NL' },
};

describe('Graph sync', () => {
  test('a full sync yields the same decisions as the same documents loaded from files', async () => {
    const dir = exampleDirectory();
    // Files: the example policies and named locations in a data directory, the directory seeded.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pdp-graph-files-'));
    mkdirSync(path.join(dataDir, 'default'));
    cpSync(
      path.join(EXAMPLE_DATA, 'default/conditional-access'),
      path.join(dataDir, 'default/conditional-access'),
      { recursive: true },
    );
    cpSync(
      path.join(EXAMPLE_DATA, 'default/named-locations.json'),
      path.join(dataDir, 'default/named-locations.json'),
    );
    const seed = path.join(dataDir, 'seed.json');
    writeFileSync(seed, JSON.stringify({ tenants: { default: dir } }));
    const fileStore = new MemoryStore();
    await seedStore(fileStore, seed, createValidators(), Date.now());
    const fileServices = await buildServices(testConfig({ dataDir }), {
      logger: silentLogger,
      metrics: new Metrics({ defaultMetrics: false }),
      store: fileStore,
      log: null,
    });
    open.push(() => fileServices.close(100));
    const fromFiles = createApp(fileServices).decisions;

    // Graph: the same tenant served by the stand-in, synced; registered resources are not synced.
    const r = await replica('a');
    for (const [id, res] of Object.entries(dir.resources)) {
      const record = { ...res, id };
      await r.store.write('default', [
        { kind: 'resource', id, value: record },
        ...(res['identifier_uris'] as string[]).map((uri) => ({
          kind: 'resource-uri' as const,
          id: uri,
          value: record,
        })),
      ]);
    }
    await firstSync(r);
    expect(r.engine.current?.tenants['default']?.policies.map((p) => p.id)).toEqual(
      fileServices.engine.current?.tenants['default']?.policies.map((p) => p.id),
    );

    const table = cases(dir);
    const results = { allow: 0, deny: 0 };
    for (const c of table) {
      const viaFiles = await fromFiles.decide(c);
      const viaGraph = await r.decisions.decide(c);
      expect({ case: c, decision: essence(viaGraph) }).toEqual({ case: c, decision: essence(viaFiles) });
      results[viaGraph.decision] += 1;
    }
    // The table tells decisions apart: both outcomes occur.
    expect(results.allow).toBeGreaterThan(3);
    expect(results.deny).toBeGreaterThan(3);
    // The token was requested once (cached), with a certificate assertion the stand-in verified.
    expect(g.tokenRequests).toBe(1);
  });

  test('a risky agent confirmed compromised in Graph blocks on every replica within one sync interval + 100 ms', async () => {
    const a = await replica('a');
    const b = await replica('b');
    await firstSync(a);
    await until(
      'replica b loaded the set',
      () => (b.engine.current?.tenants['default']?.policies.length ?? 0) > 0,
    );
    expect((await a.decisions.decide(allowSafe)).decision).toBe('allow');
    expect((await b.decisions.decide(allowSafe)).decision).toBe('allow');

    const t0 = Date.now();
    g.state.riskyAgents.push({
      '@odata.type': '#microsoft.graph.riskyAgentIdentity',
      id: 'agt-7f3a',
      identityType: 'agentIdentity',
      isDeleted: false,
      isEnabled: true,
      isProcessing: false,
      riskLevel: 'high',
      riskState: 'confirmedCompromised',
      riskDetail: 'adminConfirmedAgentCompromised',
      riskLastUpdatedDateTime: new Date().toISOString(),
    });
    const blocked = async (r: Replica): Promise<number> =>
      until(
        `replica ${r.name} to block`,
        async () => {
          const d = await r.decisions.decide(allowSafe);
          return d.decision === 'deny' && d.reasons.some((x) => x.code === 'ca_block')
            ? Date.now() - t0
            : null;
        },
        5000,
        5,
      );
    const [ta, tb] = await Promise.all([blocked(a), blocked(b)]);
    console.log(
      `confirmed compromise blocked on replica a after ${ta} ms, b after ${tb} ms (interval ${INTERVAL_S * 1000} ms)`,
    );
    expect(Math.max(ta, tb)).toBeLessThanOrEqual(INTERVAL_S * 1000 + 100);
  });

  test('429 and 503 with Retry-After are honoured: the retry waits at least that long', async () => {
    const r = await replica('a', { graphSyncIntervalSeconds: 3600 });
    await firstSync(r);
    g.faults.push({ path: 'identityProtection/riskyUsers', status: 429, retryAfterSeconds: 1 });
    g.faults.push({ path: 'identityProtection/riskyAgents', status: 503, retryAfterSeconds: 1 });
    const s = await cycle(r);
    expect(s.resources.riskyUsers.last_error).toBeNull();
    for (const [p, status] of [
      ['identityProtection/riskyUsers', 429],
      ['identityProtection/riskyAgents', 503],
    ] as const) {
      const i = g.log.findIndex((e) => e.path === p && e.status === status);
      expect(i).toBeGreaterThanOrEqual(0);
      const retry = g.log.slice(i + 1).find((e) => e.path === p);
      const waited = (retry?.at ?? 0) - (g.log[i]?.at ?? 0);
      console.log(`${status} Retry-After: 1 s, measured wait ${waited} ms`);
      expect(waited).toBeGreaterThanOrEqual(1000);
    }
    const metrics = await r.metrics.registry.getSingleMetricAsString('pdp_graph_throttled_total');
    expect(metrics).toMatch(/status="429"} 1/);
    expect(metrics).toMatch(/status="503"} 1/);
  });

  test('a failed page deletes nothing; a complete listing then does', async () => {
    const r = await replica('a', { graphSyncIntervalSeconds: 3600 });
    await firstSync(r);
    expect(await r.store.get('agent', 'default', 'agt-orphan')).not.toBeNull();
    // Gone from Graph, and the listing fails on its second page (after every retry).
    g.state.agents = g.state.agents.filter((a) => a['id'] !== 'agt-orphan');
    g.state.riskyAgents = [];
    g.faults.push({
      path: 'servicePrincipals/microsoft.graph.agentIdentity',
      page: 1,
      status: 500,
      times: 1000,
    });
    g.faults.push({ path: 'identityProtection/riskyAgents', page: 0, status: 500, times: 1000 });
    const failed = await cycle(r, 'full');
    expect(failed.resources.agentIdentities.last_error).toMatch(/500/);
    expect(failed.resources.riskyAgents.last_error).toMatch(/500/);
    expect(failed.last_cycle?.outcome).toBe('partial');
    expect(await r.store.get('agent', 'default', 'agt-orphan')).not.toBeNull();
    expect(await r.store.get('risk:agent', 'default', 'agt-research-1')).not.toBeNull();
    for (const id of Object.keys(exampleDirectory().agents))
      expect(await r.store.get('agent', 'default', id)).not.toBeNull();

    g.faults.length = 0;
    const ok = await cycle(r, 'full');
    expect(ok.last_cycle?.outcome).toBe('success');
    expect(await r.store.get('agent', 'default', 'agt-orphan')).toBeNull();
    expect(await r.store.get('risk:agent', 'default', 'agt-research-1')).toBeNull();
    expect(
      (await r.decisions.decide({ ...allowSafe, agent_id: 'agt-orphan' })).reasons.map((x) => x.code),
    ).toContain('agent_not_found');
  });

  test('delta: a changed agent is re-read, an @removed one deleted, without a full listing', async () => {
    const r = await replica('a', { graphSyncIntervalSeconds: 3600 });
    await firstSync(r);
    g.log.length = 0;
    const agent = g.state.agents.find((a) => a['id'] === 'agt-7f3a') as Record<string, unknown>;
    agent['accountEnabled'] = false;
    g.touch('servicePrincipals', 'agt-7f3a');
    g.state.agents = g.state.agents.filter((a) => a['id'] !== 'agt-research-1');
    g.touch('servicePrincipals', 'agt-research-1', true);
    const s = await cycle(r, 'incremental');
    expect(s.resources.agentIdentities.mode).toBe('delta');
    expect(g.log.some((e) => e.path === 'servicePrincipals/microsoft.graph.agentIdentity')).toBe(false);
    expect((await r.store.get('agent', 'default', 'agt-7f3a'))?.enabled).toBe(false);
    expect(await r.store.get('agent', 'default', 'agt-research-1')).toBeNull();
    expect((await r.decisions.decide(allowSafe)).reasons.map((x) => x.code)).toContain('agent_disabled');
  });

  test('PDP_GRAPH_DELTA=false: every cycle lists agents and agent users whole, no delta query', async () => {
    const r = await replica('a', { graphDelta: false, graphSyncIntervalSeconds: 3600 });
    await firstSync(r);
    g.state.agents = g.state.agents.filter((a) => a['id'] !== 'agt-research-1');
    const s = await cycle(r, 'incremental');
    expect(s.resources.agentIdentities.mode).toBe('listing');
    expect(g.log.some((e) => e.path.endsWith('/delta'))).toBe(false);
    expect(await r.store.get('agent', 'default', 'agt-research-1')).toBeNull();
  });

  test('a policy set that fails validation is refused with policy id and pointer; the last good set keeps deciding', async () => {
    const r = await replica('a', { graphSyncIntervalSeconds: 3600 });
    await firstSync(r);
    const revision = r.engine.current?.revision;
    g.state.policies = [
      ...g.state.policies,
      {
        id: 'ca-broken',
        displayName: 'Broken',
        state: 'enabled',
        conditions: { agentIdRiskLevels: 'extreme' },
        grantControls: { operator: 'OR', builtInControls: ['block'] },
      },
    ];
    const s = await cycle(r);
    expect(s.resources.conditionalAccessPolicies.last_error).not.toBeNull();
    const details = s.policy_set.rejected?.details ?? [];
    expect(details.length).toBeGreaterThan(0);
    expect(details.every((d) => d.policy_id === 'ca-broken' && d.file === 'graph:default/policies')).toBe(
      true,
    );
    expect(
      details.map((d) => d.pointer).some((p) => p.startsWith(`/value/${g.state.policies.length - 1}/`)),
    ).toBe(true);
    expect(r.engine.current?.revision).toBe(revision);
    expect((await r.decisions.decide(allowSafe)).decision).toBe('allow');
  });

  test('two replicas never sync at once, and a killed syncing replica is replaced within one lease period', async () => {
    cycles.length = 0;
    const a = await replica('a');
    const b = await replica('b');
    await firstSync(a);
    await new Promise((r) => setTimeout(r, 1500));
    const leader = a.graph.worker.isLeader ? a : b;
    const other = leader === a ? b : a;
    expect(other.graph.worker.isLeader).toBe(false);
    const killedAt = Date.now();
    leader.kill();
    const takeover = await until(
      'the other replica to sync',
      () =>
        cycles.find((c) => c.replica === other.name && c.event === 'start' && c.at > killedAt)?.at ?? null,
      10_000,
      5,
    );
    await new Promise((r) => setTimeout(r, 1000));
    // Cycles never overlap: every start follows the previous end.
    const ordered = [...cycles].sort((x, y) => x.at - y.at);
    let running: string | null = null;
    for (const c of ordered) {
      if (c.event === 'start') {
        expect(running).toBeNull();
        running = c.replica;
      } else if (running === c.replica) running = null;
    }
    const tick = Math.min(INTERVAL_S * 1000, (LEASE_S * 1000) / 3, 1000);
    console.log(
      `takeover after ${takeover - killedAt} ms (lease ${LEASE_S * 1000} ms, tick ${tick} ms); ${cycles.filter((c) => c.event === 'start').length} cycles, none overlapping`,
    );
    expect(takeover - killedAt).toBeLessThanOrEqual(LEASE_S * 1000 + tick);
    expect(new Set(cycles.map((c) => c.replica))).toEqual(new Set(['a', 'b']));
  });
});

const sha = (key: string): string => createHash('sha256').update(key).digest('hex');

describe('Graph sync: operations and credentials', () => {
  test('admin endpoint: state and trigger (role admin), /readyz detail and metrics', async () => {
    const r = await replica('a', {
      apiKeys: [
        { name: 'ops', sha256: sha('k-admin'), roles: ['admin'] },
        { name: 'issuer', sha256: sha('k-decide'), roles: ['decide'] },
      ],
      graphSyncIntervalSeconds: 3600,
    });
    await firstSync(r);
    const api = createApp(r.services).express;
    await request(api).get('/v1/graph/sync').set('x-api-key', 'k-decide').expect(403);
    const got = await request(api).get('/v1/graph/sync').set('x-api-key', 'k-admin').expect(200);
    expect(got.body.last_cycle.outcome).toBe('success');
    expect(got.body.resources.riskyAgents.objects).toBe(1);
    expect(got.body.policy_set.policies).toBe(g.state.policies.length);
    const bad = await request(api)
      .post('/v1/graph/sync')
      .set('x-api-key', 'k-admin')
      .send({ full: 'yes' })
      .expect(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(bad.body.error.details[0].pointer).toBe('/full');
    const asked = Date.now();
    const posted = await request(api)
      .post('/v1/graph/sync')
      .set('x-api-key', 'k-admin')
      .send({ full: true })
      .expect(202);
    expect(posted.body.requested).toBe('full');
    await until('the requested full cycle', async () => {
      const c = (await state(r)).last_cycle;
      return c?.kind === 'full' && Date.parse(c.started_at) >= asked - 5 && c.finished_at !== null;
    });

    const adminApp = createAdminApp(
      r.services,
      localBackend(r.engine, r.store, r.metrics, () => false, r.graph.control),
    );
    const ready = await request(adminApp).get('/readyz').expect(200);
    expect(ready.body.graph.tenant).toBe('default');
    expect(ready.body.graph.leader_here).toBe(true);
    expect(ready.body.graph.resources.riskyAgents.failing).toBe(false);
    expect(ready.body.graph.resources.riskyAgents.staleness_seconds).toBeLessThan(5);
    expect(JSON.stringify(ready.body.graph)).not.toMatch(/last_error/);
    const metrics = await r.metrics.registry.metrics();
    expect(metrics).toMatch(
      /pdp_graph_sync_last_success_timestamp_seconds\{resource="agentIdentities"\} \d+/,
    );
    expect(metrics).toMatch(/pdp_graph_sync_staleness_seconds\{resource="riskyUsers"\} \d/);
    expect(metrics).toMatch(
      /pdp_graph_sync_total\{resource="conditionalAccessPolicies",outcome="success"\} [1-9]/,
    );
    expect(metrics).toMatch(/pdp_graph_sync_leader 1/);
  });

  test('a client secret is accepted; a wrong one fails every resource and deletes nothing', async () => {
    const secretStandIn = new GraphStandIn(TENANT_ID, CLIENT_ID, { secret: 's3cret' });
    await secretStandIn.start();
    open.push(() => secretStandIn.stop());
    loadStandIn(secretStandIn, exampleDirectory());
    const over = {
      graphClientCertificate: null,
      graphClientKey: null,
      graphAuthorityUrl: secretStandIn.authorityUrl,
      graphBaseUrl: secretStandIn.baseUrl,
      graphSyncIntervalSeconds: 3600,
    };
    const r = await replica('a', { ...over, graphClientSecret: 's3cret' });
    await firstSync(r);
    expect(await r.store.get('agent', 'default', 'agt-7f3a')).not.toBeNull();
    await r.services.close(100);
    open.pop();
    r.clients.commands.disconnect();
    r.clients.subscriber.disconnect();

    secretStandIn.state.agents = [];
    const wrong = await replica('b', { ...over, graphClientSecret: 'wrong' });
    const s = await cycle(wrong, 'full');
    expect(s.last_cycle?.outcome).toBe('failed');
    expect(s.resources.agentIdentities.last_error).toMatch(/401/);
    expect(await wrong.store.get('agent', 'default', 'agt-7f3a')).not.toBeNull();
  });
});

/** A small seeded PRNG (mulberry32): the soak's faults and changes replay from GRAPH_SOAK_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Obj = Record<string, unknown>;

/** What the store must hold for the stand-in's state, written independently of src/graph/map.ts. */
function expected(): Map<string, Map<string, Obj>> {
  const s = g.state;
  const out = new Map<string, Map<string, Obj>>();
  const put = (kind: string, id: string, record: Obj): void => {
    if (!out.has(kind)) out.set(kind, new Map());
    out.get(kind)?.set(id, record);
  };
  for (const app of s.blueprints) {
    const appId = String(app['appId']);
    const principal = s.principals.find((p) => p['appId'] === appId);
    const permissions: Record<string, string[]> = {};
    for (const p of s.inheritable.get(String(app['id'])) ?? []) {
      permissions[String(p['resourceAppId'])] = (p['inheritableScopes'] as { scopes: string[] }).scopes;
    }
    put('blueprint', appId, {
      id: appId,
      display_name: app['displayName'],
      enabled: principal?.['accountEnabled'] === true,
      permissions,
      max_ttl_seconds: null,
      ...(principal !== undefined && { principal_id: principal['id'] }),
      attributes: {},
    });
  }
  for (const a of s.agents) {
    const id = String(a['id']);
    put('agent', id, {
      id,
      blueprint_id: a['agentIdentityBlueprintId'],
      display_name: a['displayName'],
      enabled: a['accountEnabled'] === true,
      sponsors: s.sponsors.get(id) ?? [],
      attributes: {},
    });
  }
  for (const u of s.agentUsers) {
    put('agent-user', String(u['id']), {
      id: u['id'],
      agent_id: u['identityParentId'],
      display_name: u['displayName'],
      enabled: u['accountEnabled'] === true,
    });
  }
  for (const r of s.riskyAgents) {
    const state = String(r['riskState']);
    const closed = ['confirmedSafe', 'dismissed', 'remediated'].includes(state);
    put('risk:agent', String(r['id']), {
      level: closed ? 'none' : state === 'confirmedCompromised' ? 'high' : r['riskLevel'],
      state,
      ...(r['riskDetail'] !== 'none' && { risk_detail: r['riskDetail'] }),
      updated_at: r['riskLastUpdatedDateTime'],
    });
  }
  for (const r of s.riskyUsers) {
    put('risk:user', String(r['id']), { level: r['riskLevel'], updated_at: r['riskLastUpdatedDateTime'] });
  }
  return out;
}

const SOAK_CYCLES = Number(process.env['GRAPH_SOAK_CYCLES'] ?? '30');

describe('Graph sync soak', () => {
  test(`${SOAK_CYCLES} sync cycles with random faults leave the store equal to the stand-in's state`, async () => {
    const seed = Number(process.env['GRAPH_SOAK_SEED'] ?? '20261205');
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    // Cycles only when asked: the soak counts them.
    const r = await replica('soak', { graphSyncIntervalSeconds: 3600, graphFullSyncIntervalSeconds: 3600 });
    await firstSync(r);
    const s = g.state;
    const blueprintIds = s.blueprints.map((b) => String(b['appId']));
    const paths = [
      'identityProtection/riskyAgents',
      'identityProtection/riskyUsers',
      'servicePrincipals/microsoft.graph.agentIdentity',
      'servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal',
      'applications/microsoft.graph.agentIdentityBlueprint',
      'users/microsoft.graph.agentUser',
      'servicePrincipals/delta',
      'users/delta',
      'identity/conditionalAccess/policies',
    ];
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < SOAK_CYCLES; i++) {
      for (let k = 0; k < 3; k++) {
        const change = Math.floor(rnd() * 8);
        const agent = s.agents.length > 0 ? pick(s.agents) : null;
        if (change === 0) {
          const id = `agt-soak-${i}-${k}`;
          s.agents.push({
            id,
            displayName: id,
            accountEnabled: rnd() < 0.7,
            agentIdentityBlueprintId: pick(blueprintIds),
          });
          s.sponsors.set(id, rnd() < 0.8 ? [`u-sponsor-${i}`] : []);
          g.touch('servicePrincipals', id);
        } else if (change === 1 && agent !== null) {
          const id = String(agent['id']);
          s.agents = s.agents.filter((a) => a !== agent);
          g.touch('servicePrincipals', id, true);
          for (const u of s.agentUsers.filter((x) => x['identityParentId'] === id)) {
            s.agentUsers = s.agentUsers.filter((x) => x !== u);
            g.touch('users', String(u['id']), true);
          }
        } else if (change === 2 && agent !== null) {
          agent['accountEnabled'] = agent['accountEnabled'] !== true;
          g.touch('servicePrincipals', String(agent['id']));
        } else if (
          change === 3 &&
          agent !== null &&
          !s.agentUsers.some((u) => u['identityParentId'] === agent['id'])
        ) {
          const id = `au-soak-${i}-${k}`;
          s.agentUsers.push({ id, displayName: id, accountEnabled: true, identityParentId: agent['id'] });
          g.touch('users', id);
        } else if (change === 4 && agent !== null) {
          const state = pick(['atRisk', 'confirmedCompromised', 'confirmedSafe', 'dismissed']);
          s.riskyAgents = s.riskyAgents.filter((x) => x['id'] !== agent['id']);
          s.riskyAgents.push({
            '@odata.type': '#microsoft.graph.riskyAgentIdentity',
            id: agent['id'],
            riskLevel:
              state === 'atRisk'
                ? pick(['low', 'medium', 'high'])
                : state === 'confirmedCompromised'
                  ? 'high'
                  : 'none',
            riskState: state,
            riskDetail: state === 'confirmedCompromised' ? 'adminConfirmedAgentCompromised' : 'none',
            riskLastUpdatedDateTime: new Date(Date.UTC(2026, 11, 5, 0, i, k)).toISOString(),
          });
        } else if (change === 5 && s.riskyAgents.length > 0) {
          s.riskyAgents = s.riskyAgents.filter((x) => x !== pick(s.riskyAgents));
        } else if (change === 6) {
          const id = `u-soak-${Math.floor(rnd() * 5)}`;
          s.riskyUsers = s.riskyUsers.filter((x) => x['id'] !== id);
          if (rnd() < 0.7) {
            s.riskyUsers.push({
              id,
              riskLevel: pick(['low', 'medium', 'high']),
              riskState: 'atRisk',
              riskLastUpdatedDateTime: new Date(Date.UTC(2026, 11, 5, 1, i, k)).toISOString(),
            });
          }
        } else if (change === 7) {
          const p = pick(s.principals);
          p['accountEnabled'] = p['accountEnabled'] !== true;
        }
      }
      if (rnd() < 0.6) {
        const status = pick([429, 503, 500, 500]);
        g.faults.push({
          path: pick(paths),
          status,
          ...(status !== 500 && { retryAfterSeconds: 0 }),
          ...(rnd() < 0.5 && { page: Math.floor(rnd() * 2) }),
          times: 1 + Math.floor(rnd() * 4),
        });
      }
      const st = await cycle(r, rnd() < 0.2 ? 'full' : 'incremental');
      const outcome = st.last_cycle?.outcome ?? 'none';
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    // The faults that are left go, and one more cycle catches up what a failed one left behind.
    g.faults.length = 0;
    await cycle(r, 'incremental');
    console.log(
      `soak: ${SOAK_CYCLES} cycles (seed ${seed}), outcomes ${JSON.stringify(outcomes)}; ${s.agents.length} agents, ${s.agentUsers.length} agent users, ${s.riskyAgents.length} risky agents`,
    );
    expect(outcomes['partial'] ?? 0).toBeGreaterThan(0);

    const want = expected();
    for (const [kind, records] of want) {
      const synced = new Set(await r.store.members('default', `graph:${kind}`));
      expect({ kind, ids: [...synced].sort() }).toEqual({ kind, ids: [...records.keys()].sort() });
      for (const [id, record] of records) {
        const got = (await r.store.get(kind as 'agent', 'default', id)) as Obj | null;
        const { updated_at: _u, ...rest } = got ?? {};
        const compare = kind.startsWith('risk:') ? got : { ...rest, id };
        const { updated_at: _w, ...wantRest } = record;
        expect({ kind, id, record: compare }).toEqual({
          kind,
          id,
          record: kind.startsWith('risk:') ? record : wantRest,
        });
      }
    }
  });
});
