import { Agent } from 'node:http';
import { onCleanup } from './cleanup';
import { call, json, type HttpCall } from './http';

/** One request of a load loop, with the harness's wall clock so it can be placed against a fault. */
export interface Sample {
  /** Date.now() when the request was sent. */
  start: number;
  ms: number;
  status: number;
  /** 'allow' | 'deny' for a decision answer, null otherwise. */
  decision: string | null;
  degraded: boolean;
  decisionId: string | null;
  error: string | null;
}

interface DecisionAnswer {
  decision?: unknown;
  decision_id?: unknown;
  degraded?: unknown;
}

export interface TrafficOptions {
  url: string;
  /** The request every loop repeats. */
  request: HttpCall;
  concurrency: number;
  /** A hard cap on requests, so a run is bounded even against a very fast target. */
  maxRequests?: number;
}

/**
 * A bounded request loop: `concurrency` loops, each sending the next request when the previous one
 * answered, until stop(). Every request is kept as a Sample (no sampling), so allows, 5xx and
 * latency can be attributed to the phase of a fault they fell in.
 */
export class Traffic {
  readonly samples: Sample[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly agent: Agent;

  constructor(private readonly opts: TrafficOptions) {
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  }

  private forget: () => void = () => undefined;

  start(): this {
    this.running = true;
    this.loops = Array.from({ length: this.opts.concurrency }, () => this.loop());
    // A scenario abandoned at its deadline must not leave its load running into the next one.
    this.forget = onCleanup(async () => {
      await this.stop();
    });
    return this;
  }

  async stop(): Promise<Sample[]> {
    this.forget();
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
    return this.samples;
  }

  private async loop(): Promise<void> {
    const cap = this.opts.maxRequests ?? 2_000_000;
    while (this.running && this.samples.length < cap) {
      const start = Date.now();
      const answer = await call(this.opts.url, { ...this.opts.request, agent: this.agent });
      const body = answer.status === 200 ? (json(answer) as DecisionAnswer | null) : null;
      this.samples.push({
        start,
        ms: answer.ms,
        status: answer.status,
        decision: typeof body?.decision === 'string' ? body.decision : null,
        degraded: body?.degraded === true,
        decisionId: typeof body?.decision_id === 'string' ? body.decision_id : null,
        error: answer.error,
      });
      // A refused connection answers at once: without a pause the loop would spin a core.
      if (answer.error !== null) await new Promise((r) => setTimeout(r, 20));
    }
  }
}
