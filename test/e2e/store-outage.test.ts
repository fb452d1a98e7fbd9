import { decideBody } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';

jest.setTimeout(90_000);

/** Short TTL so the warm agent needs Redis again within the test; fast half-open probes. */
const ENV = {
  PDP_DECISION_LOG: 'off',
  PDP_CACHE_TTL_MS: '100',
  PDP_STALE_IF_ERROR_SECONDS: '300',
  PDP_STORE_TIMEOUT_MS: '50',
  PDP_STORE_BREAKER_HALF_OPEN_MS: '200',
  PDP_STORE_BREAKER_HALF_OPEN_MAX_MS: '1000',
};
const BUDGET_MS = 50;

interface StoreDetail {
  kind: string;
  reachable: boolean;
  breaker: string;
  since: string;
  last_failure: string | null;
}
interface Readyz {
  ready: boolean;
  store: StoreDetail;
  workers: { pid: number; ready: boolean; store: StoreDetail }[];
}

async function readyz(pdp: PdpProcess): Promise<{ status: number; body: Readyz }> {
  const res = await fetch(pdp.adminUrl('/readyz'), { signal: AbortSignal.timeout(5000) });
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

async function seed(pdp: PdpProcess): Promise<void> {
  const bp = { enabled: true, permissions: { 'api://payments': ['payments.read'] } };
  expect((await pdp.post('/v1/tenants/default/blueprints/bp-1', bp, 'PUT')).status).toBe(200);
  for (const id of ['agt-warm', 'agt-cold']) {
    const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
    expect((await pdp.post(`/v1/tenants/default/agents/${id}`, agent, 'PUT')).status).toBe(200);
  }
}

interface Timed {
  status: number;
  ms: number;
  body: { decision?: string; signals?: { degraded: boolean }; reasons?: { code: string }[] };
}

async function decide(pdp: PdpProcess, agent: string): Promise<Timed> {
  const body = decideBody({ agent_id: agent, scopes: ['payments.read'], client: undefined });
  const started = performance.now();
  const res = await pdp.post('/v1/decide', body);
  return { status: res.status, ms: performance.now() - started, body: res.body as Timed['body'] };
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.99)] ?? Infinity;
}

/** The process's log lines (JSON, one a line) written since `from`. */
function logLines(pdp: PdpProcess, from: number): { level: number; msg: string }[] {
  return pdp.output
    .slice(from)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
}

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return match === null ? NaN : Number(match[1]);
}

describe('a Redis outage under the running service', () => {
  let redis: RedisProcess;

  beforeAll(async () => {
    redis = await RedisProcess.start();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('hung Redis (SIGSTOP): answers within the budget, stays ready, logs no line per request, recovers', async () => {
    const pdp = await PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '1', ...ENV });
    try {
      await seed(pdp);
      expect((await decide(pdp, 'agt-warm')).body).toMatchObject({
        decision: 'allow',
        signals: { degraded: false },
      });
      await new Promise((r) => setTimeout(r, 150)); // past the 100 ms TTL: the next read needs Redis
      const logFrom = pdp.output.length;
      const results: Timed[] = [];
      redis.pause();
      try {
        // Until the breaker opens (5 failures), a decision waits its budget and no longer.
        const first: Timed[] = [];
        for (let i = 0; i < 5; i++) first.push(await decide(pdp, 'agt-warm'));
        for (const r of first) {
          expect(r).toMatchObject({ status: 200, body: { decision: 'allow', signals: { degraded: true } } });
          expect(r.ms).toBeLessThan(BUDGET_MS + 60);
        }
        const during = await until(async () => {
          const r = await readyz(pdp);
          return r.body.store.breaker === 'closed' ? undefined : r;
        }, 3000);
        // Still ready: it answers every decision; the store is reported unreachable beside it.
        expect(during.status).toBe(200);
        expect(during.body).toMatchObject({
          ready: true,
          store: { kind: 'redis', reachable: false, last_failure: 'timeout' },
        });
        expect(Date.parse(during.body.store.since)).toBeGreaterThan(Date.now() - 10_000);

        // Breaker open: stale allow (degraded) inside the window, deny for what was never cached.
        for (let i = 0; i < 150; i++) {
          results.push(await decide(pdp, 'agt-warm'), await decide(pdp, 'agt-cold'));
        }
        const write = await pdp.post('/v1/tenants/default/signals/users/u-1/risk', { level: 'low' }, 'PUT');
        expect(write.status).toBe(503);
        expect((write.body as { error: { code: string } }).error.code).toBe('store_unavailable');
        const metrics = await (await fetch(pdp.adminUrl('/metrics'))).text();
        expect(metric(metrics, 'pdp_store_up')).toBe(0);
        expect(metric(metrics, 'pdp_store_breaker_state{state="closed"}')).toBe(0);
        expect(metric(metrics, 'pdp_store_breaker_transitions_total{state="open"}')).toBeGreaterThanOrEqual(
          1,
        );
        expect(
          metric(metrics, 'pdp_store_read_fallbacks_total{result="stale",cause="breaker_open"}'),
        ).toBeGreaterThanOrEqual(150);
        expect(
          metric(metrics, 'pdp_store_read_fallbacks_total{result="unavailable",cause="breaker_open"}'),
        ).toBeGreaterThanOrEqual(150);
      } finally {
        redis.unpause();
      }
      expect(results.filter((r) => r.status >= 500)).toHaveLength(0);
      for (const r of results) {
        if (r.body.signals?.degraded === true) expect(r.body.decision).toBe('allow');
        else expect(r.body.reasons).toEqual([expect.objectContaining({ code: 'signals_unavailable' })]);
      }
      expect(results.filter((r) => r.body.decision === 'deny')).toHaveLength(150);
      expect(p99(results.map((r) => r.ms))).toBeLessThanOrEqual(60);

      // Back without a restart: a half-open probe closes the breaker.
      const after = await until(async () => {
        const r = await readyz(pdp);
        return r.body.store.reachable ? r : undefined;
      }, 10_000);
      expect(after.body.store).toMatchObject({ breaker: 'closed', last_failure: null });
      expect((await decide(pdp, 'agt-cold')).body).toMatchObject({
        decision: 'allow',
        signals: { degraded: false },
      });
      // 305 decisions in the outage; the log has the state changes and a summary, not 2 lines each.
      const lines = logLines(pdp, logFrom);
      expect(lines.length).toBeLessThan(10);
      expect(lines.map((l) => l.msg)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^signal store circuit open/),
          expect.stringMatching(/^signal store: reads served stale or unavailable/),
          'signal store circuit closed',
        ]),
      );
    } finally {
      await pdp.stop();
    }
  });

  it('Redis killed (SIGKILL) under two workers: the primary stays ready, decisions fail closed, then recover', async () => {
    const pdp = await PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '2', ...ENV });
    try {
      await seed(pdp);
      await until(async () => {
        const r = await readyz(pdp);
        return r.body.workers.filter((w) => w.ready).length === 2 ? true : undefined;
      }, 15_000);
      const logFrom = pdp.output.length;
      await redis.stop();
      const results: Timed[] = [];
      for (let i = 0; i < 200; i++) results.push(await decide(pdp, 'agt-cold'));
      expect(results.filter((r) => r.status !== 200)).toHaveLength(0);
      for (const r of results) {
        expect(r.body).toMatchObject({ decision: 'deny' });
        expect(r.body.reasons).toEqual([expect.objectContaining({ code: 'signals_unavailable' })]);
      }
      expect(p99(results.map((r) => r.ms))).toBeLessThanOrEqual(60);
      // Two workers, 200 decisions: state changes per worker, not a line per request.
      expect(logLines(pdp, logFrom).length).toBeLessThan(20);
      const during = await readyz(pdp);
      expect(during.status).toBe(200);
      expect(during.body).toMatchObject({
        ready: true,
        store: { reachable: false, last_failure: 'connection' },
      });
      expect(during.body.workers.every((w) => w.ready && !w.store.reachable)).toBe(true);
      const metrics = await (await fetch(pdp.adminUrl('/metrics'))).text();
      expect(metric(metrics, 'pdp_store_up')).toBe(0);

      await redis.resume();
      await until(async () => {
        const r = await readyz(pdp);
        return r.body.workers.every((w) => w.store.reachable) ? true : undefined;
      }, 15_000);
      await seed(pdp); // the restarted Redis kept nothing (no persistence here)
      expect((await decide(pdp, 'agt-cold')).body).toMatchObject({ decision: 'allow' });
      expect(logLines(pdp, logFrom).length).toBeLessThan(20);
    } finally {
      await pdp.stop();
    }
  });
});
