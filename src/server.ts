import cluster from 'node:cluster';
import { runPrimary } from './cluster/primary';
import { runWorker } from './cluster/worker';
import { loadConfig, type Config } from './config';
import { describeThrown } from './errors';

/** Process entry: the only place that reads the environment's config, forks, listens and exits. */
export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`agent-pdp: invalid configuration: ${describeThrown(err)}\n`);
    process.exit(2);
  }
  if (cluster.isPrimary && config.workers > 1) {
    await runPrimary(config);
  } else {
    await runWorker(config, { clustered: cluster.isWorker });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`agent-pdp: failed to start: ${describeThrown(err)}\n`);
    process.exit(1);
  });
}
