import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ChaosPdp, DECIDE_BODY } from '../lib/pdp';
import { ChaosRedis } from '../lib/redis';
import { check } from '../lib/report';
import { sleep, type Scenario } from '../lib/scenario';
import { summarize } from '../lib/stats';
import { Traffic } from '../lib/traffic';

/** The smallest buffer PDP_DECISION_LOG_BUFFER accepts. */
const BUFFER = 100;
/** Each batch the collector takes waits this long: far slower than the decision rate. */
const COLLECTOR_DELAY_MS = 1000;

/** A decision-log collector on loopback that answers every batch late, counting what it received. */
async function slowCollector(): Promise<{ server: Server; url: string; received: () => number }> {
  let received = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        try {
          const body = Buffer.concat(chunks);
          const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
          received += (JSON.parse(text.toString('utf8')) as unknown[]).length;
          res.writeHead(204).end();
        } catch {
          res.writeHead(400).end();
        }
      }, COLLECTOR_DELAY_MS);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/v1/logs`, received: () => received };
}

/**
 * A decision-log sink that cannot keep up, with the smallest buffer: records beyond it are
 * dropped, and every one must be counted (pdp_decision_log_records_total{outcome="dropped"}):
 * answered = written + dropped, nothing unaccounted for.
 */
export const logOverflow: Scenario = {
  name: 'log-overflow',
  title: 'Decision-log overflow: a slow collector and PDP_DECISION_LOG_BUFFER=100',
  deadlineSeconds: (s) => 90 + s.overflow_load_s,
  async run({ settings, log }) {
    const collector = await slowCollector();
    const redis = await ChaosRedis.start();
    try {
      const pdp = await ChaosPdp.start({
        REDIS_URL: redis.url,
        PDP_DECISION_LOG: `http:${collector.url}`,
        PDP_DECISION_LOG_BUFFER: String(BUFFER),
        ...settings.pdp_env,
      });
      try {
        await pdp.waitForWorkers(2);
        const seeded = await pdp.seed();
        const traffic = new Traffic({
          url: pdp.url('/v1/decide'),
          request: { body: DECIDE_BODY, timeoutMs: 10_000 },
          concurrency: settings.concurrency,
        }).start();
        await sleep(settings.overflow_load_s * 1000);
        const samples = await traffic.stop();
        const summary = summarize(samples);
        const answered = samples.filter((s) => s.status === 200 && s.decisionId !== null).length + seeded;

        // What is buffered when the load stops still goes out (one slow batch per worker).
        log('load stopped; waiting for the buffers to drain');
        let written = 0;
        let dropped = 0;
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          written = await pdp.metric('pdp_decision_log_records_total', 'outcome="written"');
          dropped = await pdp.metric('pdp_decision_log_records_total', 'outcome="dropped"');
          if (written + dropped >= answered && collector.received() >= written) break;
          await sleep(500);
        }
        const unaccounted = answered - written - dropped;
        return {
          figures: {
            buffer: BUFFER,
            collector_delay_ms: COLLECTOR_DELAY_MS,
            decisions_answered: answered,
            records_written: written,
            records_dropped_counted: dropped,
            records_unaccounted: unaccounted,
            collector_received: collector.received(),
            decision_p99_ms: summary.p99_ms,
            status: summary.status,
            server_errors_5xx: summary.server_errors_5xx,
          },
          checks: [
            check(
              'overflow counted in metrics',
              '> 0 dropped',
              dropped,
              dropped > 0,
              dropped === 0 ? 'the collector kept up: nothing overflowed' : undefined,
            ),
            check('records lost without being counted', '= 0', unaccounted, unaccounted === 0),
            check(
              'collector received what metrics call written',
              '= written',
              collector.received(),
              collector.received() === written,
            ),
            check('5xx', '= 0', summary.server_errors_5xx, summary.server_errors_5xx === 0),
          ],
        };
      } finally {
        await pdp.stop();
      }
    } finally {
      await redis.stop();
      collector.server.close();
      collector.server.closeAllConnections();
    }
  },
};
