import { decideBody } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';

interface Readyz {
  ready: boolean;
  workers: { pid: number; ready: boolean }[];
}

const ADMIN_PATHS = ['/readyz', '/metrics', '/v1/policies'] as const;
/** The primary backs off restarting a worker that dies sooner than this after its start. */
const EARLY_EXIT_MS = 5000;
const KILLS = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the cluster primary when workers die during admin traffic (issue 8, defect 3)', () => {
  let redis: RedisProcess;
  let pdp: PdpProcess;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    pdp = await PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '2', LOG_LEVEL: 'warn' });
    const bp = { enabled: true, permissions: { 'api://payments': ['payments.read'] } };
    expect((await pdp.post('/v1/tenants/default/blueprints/bp-1', bp, 'PUT')).status).toBe(200);
    const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
    expect((await pdp.post('/v1/tenants/default/agents/agt-1', agent, 'PUT')).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await pdp.stop();
    await redis.stop();
  });

  const readyWorkers = async (): Promise<number[]> => {
    const res = await fetch(pdp.adminUrl('/readyz'), { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as Readyz;
    return body.workers.filter((w) => w.ready).map((w) => w.pid);
  };

  const waitForWorkers = async (exclude: number): Promise<number[]> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const pids = await readyWorkers().catch((): number[] => []);
      if (pids.length === 2 && !pids.includes(exclude)) return pids;
      if (pdp.child.exitCode !== null) throw new Error(`the primary exited: ${pdp.output.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('no second worker within 30 s');
      await sleep(50);
    }
  };

  it(`survives ${KILLS} worker SIGKILLs with /readyz, /metrics and /v1/policies in flight`, async () => {
    const firstSeen = new Map<number, number>();
    const statuses = new Map<string, number>();
    let survived = 0;
    let victim = 0;
    for (let i = 0; i < KILLS; i++) {
      const workers = await waitForWorkers(victim);
      for (const pid of workers) if (!firstSeen.has(pid)) firstSeen.set(pid, Date.now());
      // Kill the older worker, and only once it has lived past the crash-loop window: the
      // primary then restarts at once and every iteration kills a worker serving normally.
      victim = workers.reduce((a, b) => ((firstSeen.get(a) ?? 0) <= (firstSeen.get(b) ?? 0) ? a : b));
      const age = Date.now() - (firstSeen.get(victim) ?? 0);
      if (age < EARLY_EXIT_MS + 200) await sleep(EARLY_EXIT_MS + 200 - age);

      let running = true;
      const admin = Array.from({ length: 6 }, async (_, k) => {
        const pathname = ADMIN_PATHS[k % ADMIN_PATHS.length]!;
        while (running) {
          const key = await fetch(pdp.adminUrl(pathname), { signal: AbortSignal.timeout(5000) }).then(
            async (res) => {
              await res.arrayBuffer();
              return `${pathname} ${res.status}`;
            },
            (err: unknown) => `${pathname} ${(err as Error).name}`,
          );
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      });
      await sleep(30);
      process.kill(victim, 'SIGKILL');
      await sleep(500);
      running = false;
      await Promise.all(admin);

      if (pdp.child.exitCode !== null || pdp.child.signalCode !== null) break;
      expect((await fetch(pdp.adminUrl('/healthz'))).status).toBe(200);
      survived++;
    }
    expect({ survived, primaryExit: pdp.child.exitCode }).toEqual({ survived: KILLS, primaryExit: null });
    // Every admin request got an HTTP answer; only readiness may say 503 while a worker is gone.
    const unexpected = [...statuses.keys()].filter(
      (key) => !['/readyz 200', '/readyz 503', '/metrics 200', '/v1/policies 200'].includes(key),
    );
    expect(unexpected).toEqual([]);

    await waitForWorkers(victim);
    const decision = await pdp.post(
      '/v1/decide',
      decideBody({ agent_id: 'agt-1', scopes: ['payments.read'], client: undefined }),
    );
    expect(decision.body.decision).toBe('allow');
    const metrics = await (await fetch(pdp.adminUrl('/metrics'))).text();
    expect(metrics).toMatch(new RegExp(`^pdp_worker_restarts_total ${KILLS}$`, 'm'));
  }, 240_000);
});
