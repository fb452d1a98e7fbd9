import type { AgentToken, AgentTokenVerifier } from '../auth/agent-tokens';
import type { PolicyEngine } from '../engine/policy-engine';
import { PdpError } from '../errors';
import type { BodySource } from '../http/forwarded-body';
import type { OriginalRequest } from '../http/original-request';
import { BodyMemo, type ReadBody } from '../mcp/body-memo';
import { checkMcp, type McpReason } from '../mcp/check';
import type { McpBody } from '../mcp/messages';
import { mcpCandidates, mcpRouteAt, type McpRoute } from '../mcp/route-index';
import { UNAVAILABLE } from '../store/snapshot';
import type { SignalSnapshot, SignalStore } from '../store/types';
import { runDecision, type DecisionObserver, type GatewayDecision, type McpSubject } from './run';

export interface GatewayDeps {
  engine: PolicyEngine;
  store: SignalStore;
  verifier: AgentTokenVerifier;
  clock: () => number;
  newId: (now: number) => string;
  observe?: DecisionObserver;
  /** Read MCP bodies by their bytes (default: DEFAULT_BODY_MEMO_LIMITS). */
  bodyMemo?: BodyMemo;
}

/** No token: nothing to read, and nothing missing either (public routes need no signals). */
const NO_SIGNALS: SignalSnapshot = { ...UNAVAILABLE, unavailable: false };
const NO_ROUTES: readonly McpRoute[] = [];

/** A check's decision, with the MCP body it judged (null when no MCP route could match). */
export interface GatewayOutcome {
  decision: GatewayDecision;
  mcp: McpBody | null;
  /** The MCP routes the request may have matched (the policy's is among them when it is one). */
  mcpRoutes: readonly McpRoute[];
}

/** The token's permissions as a set, and as canonical text (BodyMemo's key), once per cached token. */
const heldOf = new WeakMap<AgentToken, { set: ReadonlySet<string>; key: string }>();
const NOTHING_HELD = { set: new Set<string>(), key: '' };

function held(token: AgentToken | null): { set: ReadonlySet<string>; key: string } {
  if (token === null) return NOTHING_HELD;
  let known = heldOf.get(token);
  if (known === undefined) {
    const set = new Set<string>([...token.scopes, ...token.roles]);
    known = { set, key: [...set].sort().join(' ') };
    heldOf.set(token, known);
  }
  return known;
}

/** What the policy sees of an MCP body: `request.mcp` (the first message), the batch, each candidate's verdict. */
function mcpSubject(
  routes: readonly McpRoute[],
  method: string,
  read: ReadBody | null,
  token: AgentToken | null,
): McpSubject {
  const permissions = held(token);
  // Keyed by route ids from the data: no prototype.
  const checks = Object.create(null) as Record<string, readonly McpReason[]>;
  for (const r of routes) {
    if (Object.hasOwn(checks, r.id)) continue;
    checks[r.id] =
      read === null
        ? checkMcp(r, method, null, permissions.set)
        : read.denials(r, method, permissions.set, permissions.key);
  }
  if (read === null) return { request: undefined, batch: undefined, checks };
  return { request: read.first, batch: read.batch, checks, bodyId: read.id };
}

/** Inline authorization: verify the token (jose), read the agent's signals, decide (run.ts). */
export class GatewayService {
  private readonly bodies: BodyMemo;

  constructor(private readonly deps: GatewayDeps) {
    this.bodies = deps.bodyMemo ?? new BodyMemo();
  }

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
    return (await this.check(named, original, bearer, caller)).decision;
  }

  /**
   * The tenant of a request that names none and carries no valid token (public routes, the 401
   * that points an MCP client at its metadata): the one tenant the trusted issuers name, else
   * "default".
   */
  get defaultTenant(): string {
    return this.deps.verifier.soleTenant ?? 'default';
  }

  private tenantMcpRoutes(tenant: string): readonly McpRoute[] {
    const tenants = this.deps.engine.current?.tenants;
    if (tenants === undefined || !Object.hasOwn(tenants, tenant)) return NO_ROUTES;
    return tenants[tenant]?.mcpRoutes ?? NO_ROUTES;
  }

  /** The MCP routes of `tenant` that may match this request, in the serving revision. */
  mcpRoutes(tenant: string, original: OriginalRequest): readonly McpRoute[] {
    const routes = this.tenantMcpRoutes(tenant);
    return routes.length === 0 ? NO_ROUTES : mcpCandidates(routes, original.method, original.path);
  }

  /** The MCP route whose protected resource metadata `path` asks for (resource-metadata.ts). */
  mcpRouteAt(tenant: string, path: string): McpRoute | undefined {
    return mcpRouteAt(this.tenantMcpRoutes(tenant), path);
  }

  /**
   * As authorize (`named` as there), reading the forwarded body when an MCP route of the resolved
   * tenant may match (never otherwise). Throws
   * PdpError('payload_too_large') for a body over the limit.
   */
  async check(
    named: string | undefined,
    original: OriginalRequest,
    bearer: string | undefined,
    caller: string | null = null,
    body?: BodySource,
  ): Promise<GatewayOutcome> {
    const startedNs = process.hrtime.bigint();
    const token = bearer === undefined ? null : await this.deps.verifier.verify(bearer);
    if (token !== null && named !== undefined && token.tenant !== named) {
      throw new PdpError('invalid_token', 'The token issuer is not trusted for this tenant');
    }
    const tenant = named ?? token?.tenant ?? this.defaultTenant;
    const mayBeMcp = this.mcpRoutes(tenant, original).length > 0;
    const bytes = mayBeMcp && original.method === 'POST' && body !== undefined ? await body() : null;
    const signals =
      token === null
        ? NO_SIGNALS
        : await this.deps.store.readSignals({
            tenant,
            agentId: token.agent_id,
            userId: token.user_id ?? undefined,
            agentUser: token.flow === 'agent_user',
          });
    // Judged against the revision that evaluates next (nothing awaits in between): a reload
    // during the reads above cannot pair one revision's routes with another's verdicts.
    const routes = mayBeMcp ? this.mcpRoutes(tenant, original) : NO_ROUTES;
    const read = routes.length > 0 && bytes !== null ? this.bodies.read(bytes) : null;
    const decision = runDecision(
      this.deps,
      {
        kind: 'gateway',
        tenant,
        original,
        token,
        signals,
        ...(routes.length > 0 && { mcp: mcpSubject(routes, original.method, read, token) }),
      },
      { endpoint: 'authorize', caller, now: this.deps.clock(), startedNs },
    );
    return { decision, mcp: read?.body ?? null, mcpRoutes: routes };
  }
}
