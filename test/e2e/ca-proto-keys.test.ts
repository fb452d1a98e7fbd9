/**
 * Issue 8, defect 2, as reported against the real service: a report-only CA document with
 * `excludeUsers: ["__proto__"]` made decisions 400 within a second and crash-looped the workers
 * (prom-client label error) when hot-added, and stopped the process at start-up.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXAMPLE_DATA } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';

const REPORTED = {
  id: 'ca-report-proto',
  displayName: 'Report-only MFA for everyone but one account',
  state: 'enabledForReportingButNotEnforced',
  conditions: {
    users: { includeUsers: ['All'], excludeUsers: ['__proto__'] },
    applications: { includeApplications: ['All'] },
  },
  grantControls: { operator: 'OR', builtInControls: ['mfa'] },
};

const TENANT = 'acme';
const body = {
  tenant: TENANT,
  flow: 'on_behalf_of',
  agent_id: 'agt-1',
  resource: 'api://payments',
  scopes: ['payments.read'],
  user: { id: 'alice' },
};

async function seed(pdp: PdpProcess): Promise<void> {
  const bp = { enabled: true, permissions: { 'api://payments': ['payments.read'] } };
  expect((await pdp.post(`/v1/tenants/${TENANT}/blueprints/bp-1`, bp, 'PUT')).status).toBe(200);
  const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
  expect((await pdp.post(`/v1/tenants/${TENANT}/agents/agt-1`, agent, 'PUT')).status).toBe(200);
}

/** Decisions for ~1.5 s (the report saw 400s within one): every one 200, allowed, the policy reported. */
async function decideFor(pdp: PdpProcess, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let n = 0;
  while (Date.now() < until) {
    const res = await pdp.post('/v1/decide', body);
    expect(res.status).toBe(200);
    expect(res.body.decision).toBe('allow');
    expect(res.body.policies).toEqual([
      expect.objectContaining({ id: 'ca-report-proto', result: 'reportOnlyFailure' }),
    ]);
    n++;
  }
  return n;
}

async function policyIds(pdp: PdpProcess): Promise<string[]> {
  const res = await fetch(pdp.adminUrl('/v1/policies'));
  const listing = (await res.json()) as { tenants: Record<string, { policies: { id: string }[] }> };
  return (listing.tenants[TENANT]?.policies ?? []).map((p) => p.id);
}

describe('a CA document that names "__proto__", in the real service (issue 8, defect 2)', () => {
  let redis: RedisProcess;
  let dir: string;
  beforeEach(async () => {
    redis = await RedisProcess.start();
    dir = await mkdtemp(path.join(tmpdir(), 'pdp-proto-e2e-'));
    await cp(EXAMPLE_DATA, dir, { recursive: true });
  });
  afterEach(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const writeReported = async (): Promise<void> => {
    const caDir = path.join(dir, TENANT, 'conditional-access');
    await mkdir(caDir, { recursive: true });
    await writeFile(path.join(caDir, 'ca-report-proto.json'), JSON.stringify(REPORTED));
  };

  it('starts with the document in the data directory and answers decisions', async () => {
    await writeReported();
    const pdp = await PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '2', PDP_DATA_DIR: dir });
    try {
      await seed(pdp);
      expect(await policyIds(pdp)).toEqual(['ca-report-proto']);
      expect(await decideFor(pdp, 1500)).toBeGreaterThan(10);
      const metrics = await fetch(pdp.adminUrl('/metrics'));
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/pdp_decision_duration_seconds_count\{[^}]*decision="allow"/);
      expect(pdp.output).not.toMatch(/is not a function|not included in initial labelset|worker exited/i);
    } finally {
      expect(await pdp.stop()).toBe(0);
    }
  });

  it('takes the document hot, keeps answering 200 with correct results, and /metrics keeps serving', async () => {
    const pdp = await PdpProcess.start({
      REDIS_URL: redis.url,
      PDP_WORKERS: '2',
      PDP_DATA_DIR: dir,
      PDP_BUNDLE_POLL_SECONDS: '0.2',
    });
    try {
      await seed(pdp);
      expect((await pdp.post('/v1/decide', body)).body).toMatchObject({ decision: 'allow', policies: [] });
      await writeReported();
      const deadline = Date.now() + 10_000;
      while (!(await policyIds(pdp)).includes('ca-report-proto')) {
        if (Date.now() > deadline) throw new Error(`the document was not loaded: ${pdp.output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Both workers: the primary lists each worker's revision; wait until they agree.
      await new Promise((r) => setTimeout(r, 1000));
      expect(await decideFor(pdp, 1500)).toBeGreaterThan(10);
      const metrics = await fetch(pdp.adminUrl('/metrics'));
      expect(metrics.status).toBe(200);
      const ready = (await (await fetch(pdp.adminUrl('/readyz'))).json()) as { workers: unknown[] };
      expect(ready.workers).toHaveLength(2);
      expect(pdp.child.exitCode).toBeNull();
      expect(pdp.output).not.toMatch(/is not a function|not included in initial labelset|worker exited/i);
    } finally {
      expect(await pdp.stop()).toBe(0);
    }
  });
});
