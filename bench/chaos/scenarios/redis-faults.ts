import { call, json } from '../lib/http';
import { ChaosPdp, DECIDE_BODY } from '../lib/pdp';
import { ChaosRedis } from '../lib/redis';
import { check, type Check } from '../lib/report';
import { sleep, type Scenario, type ScenarioContext, type ScenarioOutcome } from '../lib/scenario';
import { between, summarize } from '../lib/stats';
import { Traffic, type Sample } from '../lib/traffic';

/** Decision p99 limit while Redis hangs and the breaker is open (issue 8). */
const HUNG_P99_LIMIT_MS = 60;
/** Replies already on their way when the fault starts may still land in the cache. */
const IN_FLIGHT_SLACK_MS = 100;

interface Fault {
  inject(redis: ChaosRedis): Promise<void>;
  recover(redis: ChaosRedis): Promise<void>;
  /** The hung-Redis latency limit applies. */
  judgeLatency: boolean;
}

interface ReadinessProbe {
  t: number;
  status: number;
  store: unknown;
}

/** /readyz every 250 ms, as a kubelet would probe it (informational: readiness is not judged here). */
function probeReadiness(pdp: ChaosPdp): { stop: () => Promise<ReadinessProbe[]> } {
  const probes: ReadinessProbe[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const answer = await call(pdp.adminUrl('/readyz'), { timeoutMs: 2000 });
      const body = json(answer) as { store?: unknown } | null;
      probes.push({ t: Date.now(), status: answer.status, store: body?.store ?? null });
      await sleep(250);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return probes;
    },
  };
}

function statusCounts(probes: readonly ReadinessProbe[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of probes) counts[String(p.status)] = (counts[String(p.status)] ?? 0) + 1;
  return counts;
}

/** First answer after `from` that is a normal allow again (not degraded): recovery, in seconds. */
function recoverySeconds(samples: readonly Sample[], from: number): number | null {
  const first = samples
    .filter((s) => s.start >= from && s.status === 200 && s.decision === 'allow' && !s.degraded)
    .sort((a, b) => a.start + a.ms - (b.start + b.ms))[0];
  return first === undefined ? null : (first.start + first.ms - from) / 1000;
}

async function redisFault(ctx: ScenarioContext, fault: Fault): Promise<ScenarioOutcome> {
  const { settings, log } = ctx;
  const redis = await ChaosRedis.start();
  try {
    const pdp = await ChaosPdp.start({
      REDIS_URL: redis.url,
      PDP_CACHE_TTL_MS: String(settings.cache_ttl_ms),
      PDP_STALE_IF_ERROR_SECONDS: String(settings.stale_if_error_s),
      ...settings.pdp_env,
    });
    try {
      await pdp.waitForWorkers(2);
      await pdp.seed();
      const traffic = new Traffic({
        url: pdp.url('/v1/decide'),
        request: { body: DECIDE_BODY, timeoutMs: 10_000 },
        concurrency: settings.concurrency,
      }).start();
      const readiness = probeReadiness(pdp);
      await sleep(settings.baseline_s * 1000);
      const faultAt = Date.now();
      await fault.inject(redis);
      log(`fault injected; holding ${settings.fault_s} s`);
      await sleep(settings.fault_s * 1000);
      const recoverAt = Date.now();
      await fault.recover(redis);
      log(`fault ended; recovery phase ${settings.recovery_s} s`);
      await sleep(settings.recovery_s * 1000);
      const samples = await traffic.stop();
      const probes = await readiness.stop();

      const windowEnd =
        faultAt + settings.cache_ttl_ms + settings.stale_if_error_s * 1000 + IN_FLIGHT_SLACK_MS;
      const breakerFrom = faultAt + settings.breaker_settle_s * 1000;
      const all = summarize(samples);
      const baseline = summarize(between(samples, 0, faultAt));
      const during = summarize(between(samples, faultAt, recoverAt));
      const sentAfterWindow = between(samples, windowEnd, recoverAt);
      const afterWindow = summarize(sentAfterWindow);
      // An allow sent after the window is a violation when it was decided on stale data: marked
      // degraded, or answered before Redis was back (nothing fresh could be read). A request that
      // waited across the recovery and got a fresh, non-degraded answer is right to allow.
      const staleAllows = sentAfterWindow.filter(
        (s) => s.decision === 'allow' && (s.degraded || s.start + s.ms < recoverAt),
      ).length;
      const freshAllowsAcrossRecovery = afterWindow.allow - staleAllows;
      const settled = summarize(between(samples, breakerFrom, recoverAt));
      const recovery = recoverySeconds(samples, recoverAt);
      const storeDetail = probes.find((p) => p.t >= breakerFrom && p.t < recoverAt)?.store ?? null;

      const checks: Check[] = [
        check('5xx', '= 0', all.server_errors_5xx, all.server_errors_5xx === 0),
        check(
          'allows after the stale window',
          '= 0',
          staleAllows,
          staleAllows === 0 && afterWindow.requests > 0,
          afterWindow.requests === 0 ? 'no request was sent after the stale window' : undefined,
        ),
        check(
          'recovery (first normal allow after the fault)',
          `within ${settings.recovery_s} s`,
          recovery,
          recovery !== null,
        ),
      ];
      if (fault.judgeLatency) {
        const p99 = settled.p99_ms;
        checks.push(
          check(
            'decision p99 with the breaker open',
            `<= ${HUNG_P99_LIMIT_MS} ms`,
            p99,
            p99 !== null && p99 <= HUNG_P99_LIMIT_MS,
            `requests sent ${settings.breaker_settle_s} s or more after the hang began; needs the Redis circuit breaker and per-decision budget (PDP_STORE_TIMEOUT_MS)`,
          ),
        );
      }
      return {
        figures: {
          requests: all.requests,
          status: all.status,
          server_errors_5xx: all.server_errors_5xx,
          no_http_answer: all.errors,
          baseline_p99_ms: baseline.p99_ms,
          fault_requests: during.requests,
          fault_allows_within_stale_window: during.allow - afterWindow.allow,
          fault_allows_after_stale_window: staleAllows,
          fault_fresh_allows_answered_after_recovery: freshAllowsAcrossRecovery,
          fault_requests_after_stale_window: afterWindow.requests,
          fault_denies: during.deny,
          fault_p50_ms: during.p50_ms,
          fault_p99_ms: during.p99_ms,
          fault_p99_ms_breaker_open: settled.p99_ms,
          fault_max_ms: during.max_ms,
          stale_window_s: (windowEnd - faultAt) / 1000,
          recovery_s: recovery,
          readyz_during_fault: statusCounts(probes.filter((p) => p.t >= faultAt && p.t < recoverAt)),
          readyz_store_during_fault: storeDetail,
        },
        checks,
      };
    } finally {
      await pdp.stop();
    }
  } finally {
    await redis.stop();
  }
}

const deadline = (s: ScenarioContext['settings']): number => 90 + s.baseline_s + s.fault_s + s.recovery_s;

export const redisKill: Scenario = {
  name: 'redis-kill',
  title: 'Redis SIGKILL under load, then restart',
  deadlineSeconds: deadline,
  run: (ctx) =>
    redisFault(ctx, {
      inject: (redis) => redis.kill(),
      recover: (redis) => redis.restart(),
      judgeLatency: false,
    }),
};

export const redisHang: Scenario = {
  name: 'redis-hang',
  title: 'Redis SIGSTOP under load (hung), then SIGCONT',
  deadlineSeconds: deadline,
  run: (ctx) =>
    redisFault(ctx, {
      inject: (redis) => {
        redis.pause();
        return Promise.resolve();
      },
      recover: (redis) => {
        redis.unpause();
        return Promise.resolve();
      },
      judgeLatency: true,
    }),
};
