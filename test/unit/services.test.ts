import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { createAdminApp, createApp } from '../../src/app';
import type { ApiKeyEntry } from '../../src/config';
import { Metrics } from '../../src/metrics';
import { localBackend } from '../../src/ops/backend';
import { buildAdminServices, buildServices } from '../../src/services';
import { decideBody, makeApp, silentLogger, testConfig } from '../helpers/app';

const key = (name: string) => `${name}-secret`;
const entry = (name: string, roles: ApiKeyEntry['roles']): ApiKeyEntry => ({
  name,
  roles,
  sha256: createHash('sha256').update(key(name)).digest('hex'),
});
const API_KEYS = [entry('issuer', ['decide']), entry('ops', ['admin'])];

describe('buildServices', () => {
  it('builds one caller authentication for the API and the admin port', async () => {
    const t = await makeApp({ apiKeys: API_KEYS });
    await request(t.api).post('/v1/decide').send(decideBody()).expect(401);
    await request(t.api).post('/v1/decide').set('x-api-key', key('issuer')).send(decideBody()).expect(200);
    await request(t.admin).get('/v1/policies').expect(401);
    await request(t.admin).get('/v1/policies').set('x-api-key', key('issuer')).expect(403);
    await request(t.admin).get('/v1/policies').set('x-api-key', key('ops')).expect(200);
  });

  it("gives the cluster primary's admin port the same caller authentication", async () => {
    const services = buildAdminServices(testConfig({ apiKeys: API_KEYS }), { logger: silentLogger });
    const t = await makeApp();
    const admin = createAdminApp(services, localBackend(t.engine, t.store, t.metrics));
    await request(admin).get('/v1/policies').expect(401);
    await request(admin).get('/v1/policies').set('x-api-key', key('issuer')).expect(403);
    await request(admin)
      .get('/v1/policies')
      .set('authorization', `Bearer ${key('ops')}`)
      .expect(200);
  });

  it("sizes the engine's tenant heap from PDP_TENANT_HEAP_MIB", async () => {
    const services = await buildServices(testConfig({ tenantHeapMib: 3 }), {
      logger: silentLogger,
      metrics: new Metrics({ defaultMetrics: false }),
      log: null,
    });
    expect(services.engine.current?.policy.residentBudgetBytes).toBe(3 * 2 ** 20);
    await services.close(1000);
  });

  it('records real decisions in the decision log PDP_DECISION_LOG names, and counts them in its metrics', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pdp-services-'));
    try {
      const file = path.join(dir, 'decisions.log');
      const services = await buildServices(testConfig({ decisionLog: `file:${file}` }), {
        logger: silentLogger,
        metrics: new Metrics({ defaultMetrics: false }),
      });
      expect(services.decisionLog).not.toBeNull();
      const { api } = createApp(services);
      const res = await request(api).post('/v1/decide').send(decideBody()).expect(200);
      // What-If answers a hypothetical: counted, never logged as a decision.
      await request(api).post('/v1/whatif').send(decideBody()).expect(200);
      await services.decisionLog?.close(5000);
      const lines = (await readFile(file, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ decision_id: res.body.decision_id, endpoint: 'decide' });
      expect(await services.metrics.registry.metrics()).toMatch(
        /pdp_decision_duration_seconds_count\{endpoint="decide",decision="allow"\} 1\n/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('starts without a bundle that does not load: the engine is not ready and decisions answer 503', async () => {
    const services = await buildServices(
      testConfig({ bundle: '/nonexistent/bundle.tar.gz', dataDir: null }),
      {
        logger: silentLogger,
        metrics: new Metrics({ defaultMetrics: false }),
      },
    );
    expect(services.engine.ready).toBe(false);
    const res = await request(createApp(services).api).post('/v1/decide').send(decideBody()).expect(503);
    expect(res.body.error.code).toBe('not_ready');
    expect(await services.metrics.registry.metrics()).toMatch(
      /pdp_bundle_loads_total\{outcome="failure"\} 1\n/,
    );
  });
});
