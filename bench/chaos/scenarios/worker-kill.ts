import { call } from '../lib/http';
import { ChaosPdp, DECIDE_BODY } from '../lib/pdp';
import { ChaosRedis } from '../lib/redis';
import { check } from '../lib/report';
import { sleep, type Scenario } from '../lib/scenario';
import { percentile, summarize } from '../lib/stats';
import { Traffic } from '../lib/traffic';

const ADMIN_PATHS = ['/readyz', '/metrics', '/v1/policies'] as const;
/** Answers the admin port may give while a worker is gone: readiness says 503, the rest 200. */
const EXPECTED = new Set(['/readyz 200', '/readyz 503', '/metrics 200', '/v1/policies 200']);
/** The primary backs off restarting a worker that dies sooner than this after its start. */
const EARLY_EXIT_MS = 5000;

/**
 * SIGKILL a worker while admin requests are in flight, again and again: the primary must survive
 * every kill (issue 8, defect 3: a send to the dead worker ended it), answer every admin request,
 * and restart the worker.
 */
export const workerKill: Scenario = {
  name: 'worker-kill',
  title: 'Worker SIGKILL with concurrent admin requests',
  deadlineSeconds: (s) => 60 + s.worker_kills * 12,
  async run({ settings, log }) {
    const redis = await ChaosRedis.start();
    try {
      const pdp = await ChaosPdp.start({ REDIS_URL: redis.url, ...settings.pdp_env });
      try {
        await pdp.waitForWorkers(2);
        await pdp.seed();
        const decisions = new Traffic({
          url: pdp.url('/v1/decide'),
          request: { body: DECIDE_BODY, timeoutMs: 5000 },
          concurrency: 2,
        }).start();
        const firstSeen = new Map<number, number>();
        const admin = new Map<string, number>();
        const replacementSeconds: number[] = [];
        let survived = 0;
        let victim = 0;
        let failure: string | null = null;
        for (let i = 0; i < settings.worker_kills; i++) {
          let workers: number[];
          try {
            workers = await pdp.waitForWorkers(2, [victim], 30_000);
          } catch (err) {
            failure = err instanceof Error ? err.message : String(err);
            break;
          }
          if (i > 0) replacementSeconds.push((Date.now() - (firstSeen.get(victim) ?? Date.now())) / 1000);
          for (const pid of workers) if (!firstSeen.has(pid)) firstSeen.set(pid, Date.now());
          // The older worker, once past the crash-loop window: the primary restarts it at once.
          victim = workers.reduce((a, b) => ((firstSeen.get(a) ?? 0) <= (firstSeen.get(b) ?? 0) ? a : b));
          const age = Date.now() - (firstSeen.get(victim) ?? 0);
          if (age < EARLY_EXIT_MS + 200) await sleep(EARLY_EXIT_MS + 200 - age);
          firstSeen.set(victim, Date.now()); // from here: the time of the kill

          let running = true;
          const loops = Array.from({ length: settings.admin_concurrency }, async (_, k) => {
            const pathname = ADMIN_PATHS[k % ADMIN_PATHS.length] ?? '/readyz';
            while (running) {
              const answer = await call(pdp.adminUrl(pathname), { timeoutMs: 5000 });
              const key = `${pathname} ${answer.error ?? String(answer.status)}`;
              admin.set(key, (admin.get(key) ?? 0) + 1);
              if (answer.error !== null) await sleep(20);
            }
          });
          await sleep(30);
          process.kill(victim, 'SIGKILL');
          await sleep(500);
          running = false;
          await Promise.all(loops);
          if (!pdp.alive) {
            failure = `the primary exited (code ${String(pdp.proc.child.exitCode)}) at kill ${i + 1}`;
            break;
          }
          survived++;
          log(`kill ${i + 1}/${settings.worker_kills}: primary alive`);
        }
        const samples = await decisions.stop();
        const summary = summarize(samples);
        const adminAnswers = Object.fromEntries([...admin.entries()].sort());
        const unexpected = [...admin.entries()]
          .filter(([key]) => !EXPECTED.has(key))
          .reduce((n, [, count]) => n + count, 0);
        return {
          figures: {
            worker_kills: settings.worker_kills,
            primary_survivals: survived,
            failure,
            admin_requests: [...admin.values()].reduce((a, b) => a + b, 0),
            admin_answers: adminAnswers,
            worker_replacement_median_s: percentile(replacementSeconds, 0.5),
            worker_replacement_max_s:
              replacementSeconds.length === 0 ? null : Math.max(...replacementSeconds),
            decision_requests: summary.requests,
            decision_status: summary.status,
            decision_5xx: summary.server_errors_5xx,
          },
          checks: [
            check(
              'primary survives worker kills during admin traffic',
              `= ${settings.worker_kills}/${settings.worker_kills}`,
              `${survived}/${settings.worker_kills}`,
              survived === settings.worker_kills,
              failure ?? undefined,
            ),
            check('admin answers other than 200 (503 from /readyz)', '= 0', unexpected, unexpected === 0),
            check('5xx on decisions', '= 0', summary.server_errors_5xx, summary.server_errors_5xx === 0),
          ],
        };
      } finally {
        await pdp.stop();
      }
    } finally {
      await redis.stop();
    }
  },
};
