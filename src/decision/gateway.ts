import type { AgentTokenVerifier } from '../auth/agent-tokens';
import type { PolicyEngine } from '../engine/policy-engine';
import { PdpError } from '../errors';
import type { OriginalRequest } from '../http/original-request';
import { UNAVAILABLE } from '../store/snapshot';
import type { SignalSnapshot, SignalStore } from '../store/types';
import { runDecision, type DecisionObserver, type GatewayDecision } from './run';

export interface GatewayDeps {
  engine: PolicyEngine;
  store: SignalStore;
  verifier: AgentTokenVerifier;
  clock: () => number;
  newId: (now: number) => string;
  observe?: DecisionObserver;
}

/** No token: nothing to read, and nothing missing either (public routes need no signals). */
const NO_SIGNALS: SignalSnapshot = { ...UNAVAILABLE, unavailable: false };

/** Inline authorization: verify the token (jose), read the agent's signals, decide (run.ts). */
export class GatewayService {
  constructor(private readonly deps: GatewayDeps) {}

  /**
   * Throws PdpError('invalid_token') for a bad token; everything else is a GatewayDecision.
   * `named`: the tenant the gateway names (X-PDP-Tenant), or undefined for the one the verified
   * token's trusted issuer names (each issuer names exactly one tenant), "default" without a token.
   * A named tenant the token's issuer is not trusted for is refused.
   */
  async authorize(
    named: string | undefined,
    original: OriginalRequest,
    bearer: string | undefined,
    caller: string | null = null,
  ): Promise<GatewayDecision> {
    const startedNs = process.hrtime.bigint();
    const token = bearer === undefined ? null : await this.deps.verifier.verify(bearer);
    if (token !== null && named !== undefined && token.tenant !== named) {
      throw new PdpError('invalid_token', 'The token issuer is not trusted for this tenant');
    }
    const tenant = named ?? token?.tenant ?? 'default';
    const signals =
      token === null
        ? NO_SIGNALS
        : await this.deps.store.readSignals({
            tenant,
            agentId: token.agent_id,
            userId: token.user_id ?? undefined,
            agentUser: token.flow === 'agent_user',
          });
    return runDecision(
      this.deps,
      { kind: 'gateway', tenant, original, token, signals },
      { endpoint: 'authorize', caller, now: this.deps.clock(), startedNs },
    );
  }
}
