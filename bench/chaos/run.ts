/**
 * The chaos run: faults injected into the real built service (PDP_WORKERS=2, a real redis-server)
 * under load, each judged against the reliability limits of issue 8. Loopback only; every process
 * it starts is killed at the end; every scenario has a deadline.
 *
 *   npm run chaos                    full run (README figures), writes bench/results/chaos-<date>.json
 *   npm run chaos -- --short         CI run (fewer repetitions and tenants, shorter phases)
 *   npm run chaos -- --only a,b      only the named scenarios
 *   npm run chaos -- --out file.json write the JSON there
 *   npm run chaos -- --pdp-env PDP_STORE_TIMEOUT_MS=25   extra environment for every agent-pdp
 *
 * Exits 1 when a limit is violated or a scenario cannot complete.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { cleanupAll } from './lib/cleanup';
import { ROOT, SERVER } from './lib/pdp';
import { passed, printScenario, printSummary, type ScenarioResult } from './lib/report';
import type { Scenario } from './lib/scenario';
import { settingsFor } from './lib/settings';
import { idleCpu } from './scenarios/idle-cpu';
import { logOverflow } from './scenarios/log-overflow';
import { redisHang, redisKill } from './scenarios/redis-faults';
import { sigterm } from './scenarios/sigterm';
import { workerKill } from './scenarios/worker-kill';

const SCENARIOS: readonly Scenario[] = [redisKill, redisHang, workerKill, sigterm, logOverflow, idleCpu];

interface Args {
  mode: 'full' | 'short';
  only: string[] | null;
  out: string | null;
  pdpEnv: Record<string, string>;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { mode: 'full', only: null, out: null, pdpEnv: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') args.mode = 'short';
    else if (arg === '--only') args.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (arg === '--out') args.out = argv[++i] ?? null;
    else if (arg === '--pdp-env') {
      const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(argv[++i] ?? '');
      if (match?.[1] === undefined) throw new Error('--pdp-env takes NAME=VALUE');
      args.pdpEnv[match[1]] = match[2] ?? '';
    } else {
      throw new Error(
        `unknown argument ${String(arg)} (expected --short, --only a,b, --out file, --pdp-env NAME=VALUE)`,
      );
    }
  }
  const unknown = (args.only ?? []).filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  }
  return args;
}

async function runOne(scenario: Scenario, settings: ReturnType<typeof settingsFor>): Promise<ScenarioResult> {
  const tmp = mkdtempSync(path.join(tmpdir(), `pdp-chaos-${scenario.name}-`));
  const started = Date.now();
  const log = (message: string): void => {
    console.log(`  [${scenario.name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
  };
  const deadlineMs = scenario.deadlineSeconds(settings) * 1000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const outcome = await Promise.race([
      scenario.run({ settings, tmp, log }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`deadline of ${deadlineMs / 1000} s passed`));
        }, deadlineMs);
      }),
    ]);
    return {
      name: scenario.name,
      title: scenario.title,
      duration_s: (Date.now() - started) / 1000,
      ...outcome,
    };
  } catch (err) {
    return {
      name: scenario.name,
      title: scenario.title,
      duration_s: (Date.now() - started) / 1000,
      figures: {},
      checks: [],
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    clearTimeout(timer);
    await cleanupAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run "npm run build" first`);
  const settings = settingsFor(args.mode, args.pdpEnv);
  const selected = SCENARIOS.filter((s) => args.only === null || args.only.includes(s.name));
  console.log(`chaos (${args.mode}): ${selected.map((s) => s.name).join(', ')}`);
  const results: ScenarioResult[] = [];
  for (const scenario of selected) {
    console.log(`\n== ${scenario.title}`);
    const result = await runOne(scenario, settings);
    printScenario(result);
    results.push(result);
  }
  printSummary(results);

  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    settings,
    passed: passed(results),
    scenarios: results,
  };
  const file =
    args.out ??
    path.join(
      ROOT,
      'bench/results',
      args.mode === 'short' ? 'tmp' : '',
      `chaos-${report.date.slice(0, 10)}${args.mode === 'short' ? '-short' : ''}.json`,
    );
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  // Exit explicitly: a scenario abandoned at its deadline may still have a load loop running.
  process.exit(report.passed ? 0 : 1);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanupAll().finally(() => process.exit(130));
  });
}

main().catch(async (err: unknown) => {
  console.error(err);
  await cleanupAll();
  process.exit(1);
});
