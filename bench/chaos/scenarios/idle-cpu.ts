import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sampleCpuWindows } from '../lib/cpu';
import { ChaosPdp } from '../lib/pdp';
import { ChaosRedis } from '../lib/redis';
import { check } from '../lib/report';
import { sleep, type Scenario } from '../lib/scenario';
import { generateTenants } from '../lib/tenants';

const LIMIT_PERCENT = 2;

/**
 * Idle CPU with many tenants: nothing is asked of the service, yet every worker keeps watching the
 * data directory. Samples each worker's utime+stime, then checks an edit still reaches every worker.
 */
export const idleCpu: Scenario = {
  name: 'idle-cpu',
  title: 'Idle CPU per worker with many tenants in PDP_DATA_DIR',
  deadlineSeconds: (s) => 240 + s.idle_settle_s + s.idle_windows * s.idle_window_s + s.tenants / 10,
  async run({ settings, tmp, log }) {
    const dataDir = path.join(tmp, 'tenants');
    mkdirSync(dataDir);
    const entries = generateTenants(dataDir, settings.tenants);
    log(`${settings.tenants} tenants, ${entries} files and directories`);
    const redis = await ChaosRedis.start();
    try {
      const started = Date.now();
      const pdp = await ChaosPdp.start(
        { REDIS_URL: redis.url, PDP_DATA_DIR: dataDir, ...settings.pdp_env },
        300_000,
      );
      try {
        const workers = await pdp.waitForWorkers(2);
        const startupSeconds = (Date.now() - started) / 1000;
        log(`ready in ${startupSeconds.toFixed(1)} s; settling ${settings.idle_settle_s} s`);
        await sleep(settings.idle_settle_s * 1000);
        const sampleSeconds = settings.idle_windows * settings.idle_window_s;
        log(`sampling CPU for ${sampleSeconds} s`);
        const { total: cpu, perWindow } = await sampleCpuWindows(
          [...workers, pdp.pid],
          settings.idle_windows,
          settings.idle_window_s,
        );
        const perWorker = workers.map((pid) => cpu.get(pid) ?? NaN);
        const round = (v: number): number => Math.round(v * 100) / 100;

        // Promptness: an edit of one document must still reach every worker soon.
        const before = (await pdp.readyz()).body?.revision ?? null;
        const file = path.join(dataDir, 't-00000/conditional-access/ca-block-high-risk-agents.json');
        const doc = JSON.parse(readFileSync(file, 'utf8')) as { displayName: string };
        const edited = Date.now();
        writeFileSync(file, JSON.stringify({ ...doc, displayName: `${doc.displayName} (edited)` }));
        let reloadSeconds: number | null = null;
        while (Date.now() - edited < 60_000) {
          const body = (await pdp.readyz()).body;
          const revisions = body?.workers.map((w) => w.revision) ?? [];
          if (revisions.length === 2 && revisions.every((r) => r !== null && r !== before)) {
            reloadSeconds = (Date.now() - edited) / 1000;
            break;
          }
          await sleep(100);
        }
        const worst = Math.max(...perWorker);
        return {
          figures: {
            tenants: settings.tenants,
            data_dir_entries: entries,
            startup_s: startupSeconds,
            idle_cpu_percent_per_worker: perWorker.map(round),
            idle_cpu_percent_primary: round(cpu.get(pdp.pid) ?? NaN),
            sample_s: sampleSeconds,
            idle_cpu_percent_per_window: perWindow.map((w) => workers.map((pid) => round(w.get(pid) ?? NaN))),
            edit_reaches_all_workers_s: reloadSeconds,
          },
          checks: [
            check('idle CPU per worker', `<= ${LIMIT_PERCENT} %`, worst, worst <= LIMIT_PERCENT),
            check('an edit reaches every worker', 'within 60 s', reloadSeconds, reloadSeconds !== null),
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
