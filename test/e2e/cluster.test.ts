import { decideBody } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';

interface Readyz {
  ready: boolean;
  workers: { pid: number; ready: boolean; revision: string | null }[];
}

async function readyz(pdp: PdpProcess): Promise<{ status: number; body: Readyz }> {
  const res = await fetch(pdp.adminUrl('/readyz'));
  return { status: res.status, body: (await res.json()) as Readyz };
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('workers (node:cluster) with a real Redis', () => {
  let redis: RedisProcess;
  let pdp: PdpProcess;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    pdp = await PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '2', PDP_SHUTDOWN_DELAY_MS: '700' });
    // Seed the shared directory through the API (the in-memory example seed is not used with Redis).
    const bp = { enabled: true, permissions: { 'api://payments': ['payments.read'] } };
    expect((await pdp.post('/v1/tenants/default/blueprints/bp-1', bp, 'PUT')).status).toBe(200);
    const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
    expect((await pdp.post('/v1/tenants/default/agents/agt-1', agent, 'PUT')).status).toBe(200);
    await until(
      async () => ((await readyz(pdp)).body.workers.filter((w) => w.ready).length === 2 ? true : undefined),
      15_000,
    );
  }, 60_000);

  afterAll(async () => {
    await pdp.stop();
    await redis.stop();
  });

  const body = decideBody({ agent_id: 'agt-1', scopes: ['payments.read'], client: undefined });

  it('aggregates metrics across workers on the admin port', async () => {
    for (let i = 0; i < 40; i++) expect((await pdp.post('/v1/decide', body)).body.decision).toBe('allow');
    const text = await (await fetch(pdp.adminUrl('/metrics'))).text();
    expect(text).toMatch(/^pdp_workers 2$/m);
    const count = /^pdp_decision_duration_seconds_count\{endpoint="decide",decision="allow"\} (\d+)$/m.exec(
      text,
    );
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(40);
    expect(text).toMatch(/^pdp_bundle_info\{revision="[0-9a-f]+\+[0-9a-f]+"\} 2$/m);
    expect(text).toMatch(
      /^pdp_policy_eval_duration_seconds_bucket\{le="0\.001",entrypoint="agent\/decide\/result"\} \d+$/m,
    );
    expect(text).toMatch(/^pdp_process_cpu_user_seconds_total /m);
  });

  it('restarts a worker killed with SIGKILL while the other keeps answering', async () => {
    const before = (await readyz(pdp)).body.workers.map((w) => w.pid);
    expect(before).toHaveLength(2);
    let ok = 0;
    let failed = 0;
    let failedLate = 0;
    let killedAt = Infinity;
    let running = true;
    const load = Array.from({ length: 4 }, async () => {
      while (running) {
        let good = false;
        try {
          good = (await pdp.post('/v1/decide', body)).status === 200;
        } catch {
          // a request in flight on the killed worker's connection
        }
        if (good) ok++;
        else {
          failed++;
          if (Date.now() > killedAt + 1000) failedLate++;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const okBeforeKill = ok;
    process.kill(before[0]!, 'SIGKILL');
    killedAt = Date.now();
    const okAtKill = ok;
    await new Promise((r) => setTimeout(r, 1000));
    const okAfterKill = ok;
    const replaced = await until(async () => {
      const { body: b } = await readyz(pdp);
      const pids = b.workers.filter((w) => w.ready).map((w) => w.pid);
      return pids.length === 2 && !pids.includes(before[0]!) ? pids : undefined;
    }, 15_000);
    running = false;
    await Promise.all(load);
    expect(okBeforeKill).toBeGreaterThan(10);
    // The surviving worker kept serving through the second after the kill.
    expect(okAfterKill - okAtKill).toBeGreaterThan(20);
    // Only requests caught by the kill can fail: each of the 4 loops loses the one in flight and
    // at most one more, handed to the dying worker before the primary saw it exit; none later.
    expect(failed).toBeLessThanOrEqual(8);
    expect(failedLate).toBe(0);
    expect(replaced).toContain(before[1]);
    const metrics = await (await fetch(pdp.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(/^pdp_worker_restarts_total 1$/m);
  }, 30_000);

  it('on SIGTERM turns readiness false first, keeps serving during the delay, then exits 0', async () => {
    pdp.child.kill('SIGTERM');
    const notReady = await until(async () => ((await readyz(pdp)).status === 503 ? true : undefined), 2000);
    expect(notReady).toBe(true);
    // Inside PDP_SHUTDOWN_DELAY_MS the listeners are still open.
    expect((await pdp.post('/v1/decide', body)).status).toBe(200);
    expect(await pdp.stop()).toBe(0);
  }, 20_000);
});
