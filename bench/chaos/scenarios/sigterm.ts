import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ChaosPdp, DECIDE_BODY } from '../lib/pdp';
import { ChaosRedis } from '../lib/redis';
import { check } from '../lib/report';
import { sleep, type Scenario } from '../lib/scenario';
import { between, summarize } from '../lib/stats';
import { Traffic } from '../lib/traffic';

/** Decision ids in every worker's decision-log file (`<path>.<worker id>`, rotated files included). */
function loggedDecisionIds(dir: string, base: string): { ids: Set<string>; lines: number; files: number } {
  const ids = new Set<string>();
  let lines = 0;
  const files = readdirSync(dir).filter((f) => f.startsWith(base));
  for (const f of files) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (line === '') continue;
      lines++;
      const id = (JSON.parse(line) as { decision_id?: unknown }).decision_id;
      if (typeof id === 'string') ids.add(id);
    }
  }
  return { ids, lines, files: files.length };
}

/**
 * SIGTERM to the primary under load, decision log to files: every decision a client got an
 * answer for must be in the log once the process has exited (the log drains before exit).
 */
export const sigterm: Scenario = {
  name: 'sigterm',
  title: 'SIGTERM under load: decisions answered vs decision-log records',
  deadlineSeconds: (s) => 90 + s.sigterm_load_s,
  async run({ settings, tmp, log }) {
    const base = 'decisions.log';
    const redis = await ChaosRedis.start();
    try {
      const pdp = await ChaosPdp.start({
        REDIS_URL: redis.url,
        PDP_DECISION_LOG: `file:${path.join(tmp, base)}`,
        PDP_SHUTDOWN_DELAY_MS: '500',
        ...settings.pdp_env,
      });
      let exitCode: number | null = null;
      try {
        await pdp.waitForWorkers(2);
        await pdp.seed();
        const traffic = new Traffic({
          url: pdp.url('/v1/decide'),
          request: { body: DECIDE_BODY, timeoutMs: 10_000 },
          concurrency: settings.concurrency,
        }).start();
        await sleep(settings.sigterm_load_s * 1000);
        const termAt = Date.now();
        pdp.proc.child.kill('SIGTERM');
        log('SIGTERM sent; load continues until the process is gone');
        exitCode = await pdp.exited(30_000);
        const exitedAt = Date.now();
        const samples = await traffic.stop();

        const answered = samples.filter((s) => s.status === 200 && s.decisionId !== null);
        const logged = loggedDecisionIds(tmp, base);
        const lost = answered.filter((s) => s.decisionId !== null && !logged.ids.has(s.decisionId)).length;
        const all = summarize(samples);
        const afterTerm = summarize(between(samples, termAt));
        return {
          figures: {
            requests: all.requests,
            status: all.status,
            decisions_answered: answered.length,
            decisions_answered_after_sigterm: answered.filter((s) => s.start >= termAt).length,
            records_written: logged.lines,
            log_files: logged.files,
            records_lost: lost,
            shutdown_s: (exitedAt - termAt) / 1000,
            exit_code: exitCode,
            requests_after_sigterm: afterTerm.requests,
            server_errors_5xx: all.server_errors_5xx,
          },
          checks: [
            check('decision records lost on SIGTERM', '= 0', lost, lost === 0 && answered.length > 0),
            check('5xx', '= 0', all.server_errors_5xx, all.server_errors_5xx === 0),
            check('exit code after SIGTERM', '= 0', exitCode, exitCode === 0),
          ],
        };
      } finally {
        await pdp.kill();
      }
    } finally {
      await redis.stop();
    }
  },
};
