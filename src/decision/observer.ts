import type { Metrics } from '../metrics';
import type { DecisionEvent, DecisionObserver } from './service';

/** Sinks for a decision once it is made; each must be cheap and must not throw. */
export interface DecisionSinks {
  metrics?: Metrics;
  /** Called for real decisions only: What-If answers hypotheticals and is not logged as one. */
  log?: (event: DecisionEvent, latencySeconds: number) => void;
}

export function createObserver(sinks: DecisionSinks): DecisionObserver {
  const { metrics, log } = sinks;
  return (event) => {
    const latencySeconds = Number(process.hrtime.bigint() - event.startedNs) / 1e9;
    if (metrics !== undefined) {
      metrics.decisionDuration.observe(
        { endpoint: event.endpoint, decision: event.decision },
        latencySeconds,
      );
      metrics.policyEvalDuration.observe({ entrypoint: event.entrypoint }, event.evalNs / 1e9);
      if (event.degraded) metrics.degradedDecisions.inc({ endpoint: event.endpoint });
    }
    if (log !== undefined && event.endpoint !== 'whatif') log(event, latencySeconds);
  };
}
