import { recordOf, type DecisionLog } from '../audit';
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

/** The decision-log hook: turns a decision event into a record; DecisionLog masks and ships it later. */
export function decisionLogHook(
  log: DecisionLog,
  clock: () => number = Date.now,
): NonNullable<DecisionSinks['log']> {
  return (event, latencySeconds) => {
    if (!log.enabled || event.endpoint === 'whatif') return;
    const result = event.result as {
      grant?: { audience: string; scopes: string[]; ttl_seconds: number } | null;
      status?: number;
    };
    log.log(
      recordOf({
        endpoint: event.endpoint,
        tenant: event.tenant,
        caller: event.caller,
        input: event.input,
        decision: {
          decision_id: event.decisionId,
          decision: event.decision,
          ...(result.grant !== undefined && { grant: result.grant }),
          ...(result.status !== undefined && { status: result.status }),
          reasons: event.reasons,
          policies: event.policies,
          revision: event.revision,
        },
        at: clock(),
        latencyMs: latencySeconds * 1000,
      }),
    );
  };
}
