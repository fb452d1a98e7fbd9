import { recordOf, type DecisionEndpoint, type DecisionLog } from '../audit';
import type { Metrics } from '../metrics';
import type { Decision, DecisionObserver } from './run';

/** Sinks for a decision once it is made; each must be cheap and must not throw. */
export interface DecisionSinks {
  metrics?: Metrics;
  /** Called for real decisions only: What-If answers hypotheticals and is not logged as one. */
  log?: (decision: Decision, latencySeconds: number) => void;
}

/** One pre-bound child per label set: prom-client otherwise hashes the labels on every observation. */
function boundBy<K, C>(bind: (key: K) => C): (key: K) => C {
  const children = new Map<K, C>();
  return (key) => {
    let child = children.get(key);
    if (child === undefined) {
      child = bind(key);
      children.set(key, child);
    }
    return child;
  };
}

export function createObserver(sinks: DecisionSinks): DecisionObserver {
  const { metrics, log } = sinks;
  const duration =
    metrics === undefined
      ? undefined
      : boundBy((key: string) => {
          const [endpoint = '', decision = ''] = key.split(' ');
          return metrics.decisionDuration.labels({ endpoint, decision });
        });
  const evalDuration =
    metrics === undefined
      ? undefined
      : boundBy((entrypoint: string) => metrics.policyEvalDuration.labels({ entrypoint }));
  const degraded =
    metrics === undefined
      ? undefined
      : boundBy((endpoint: string) => metrics.degradedDecisions.labels({ endpoint }));
  return (d) => {
    const latencySeconds = Number(process.hrtime.bigint() - d.startedNs) / 1e9;
    duration?.(`${d.endpoint} ${d.decision}`).observe(latencySeconds);
    evalDuration?.(d.entrypoint).observe(d.evalNs / 1e9);
    if (d.degraded) degraded?.(d.endpoint).inc();
    if (log !== undefined && d.endpoint !== 'whatif') log(d, latencySeconds);
  };
}

/** The decision-log hook: turns a decision into a record; DecisionLog masks and ships it later. */
export function decisionLogHook(log: DecisionLog): NonNullable<DecisionSinks['log']> {
  return (d, latencySeconds) => {
    if (log.enabled && isLogged(d)) log.log(recordOf(d, latencySeconds * 1000));
  };
}

/** What-If answers hypotheticals: every other endpoint's decisions are logged. */
function isLogged(d: Decision): d is Decision & { endpoint: DecisionEndpoint } {
  return d.endpoint !== 'whatif';
}
