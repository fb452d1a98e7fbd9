import type { IncomingMessage } from 'node:http';
import { Router, type Request, type Response } from 'express';
import { callerName, type CallerAuth } from '../auth/caller-auth';
import type { GatewayOutcome, GatewayService } from '../decision/gateway';
import type { GatewayDecision } from '../decision/run';
import { PdpError } from '../errors';
import { forwardedBody } from '../http/forwarded-body';
import { originalRequest } from '../http/original-request';
import { jsonReply, writeReply, type Reply } from '../http/reply';
import type { McpReason } from '../mcp/check';
import { jsonRpcDenial } from '../mcp/reply';
import type { TrustedIssuer } from '../auth/agent-tokens';
import { classifyRequestPath } from '../http/request-path';
import { WELL_KNOWN_PRM, resourceMetadata } from '../mcp/resource-metadata';
import type { McpRoute } from '../mcp/route-index';
import { TENANT_PATTERN as TENANT_ID_PATTERN } from '../vocabulary';

const TENANT = new RegExp(TENANT_ID_PATTERN);

export interface GatewayRouteOptions {
  /** Envoy ext_authz `path_prefix`, also the route's mount point. */
  pathPrefix: string;
  trustedProxyHops: number;
  /** Largest forwarded body read for an MCP route (413 beyond). */
  mcpBodyLimitBytes: number;
}

function bearer(req: IncomingMessage): string | undefined {
  const value = req.headers.authorization;
  if (value === undefined) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(value);
  if (match?.[1] === undefined)
    throw new PdpError('invalid_token', 'The Authorization header is not a Bearer token');
  return match[1];
}

function quote(value: string): string {
  return value.replace(/["\\]/g, '');
}

/**
 * CAE-style claims challenge (RFC 6750 + OpenID CAE): a client must come back with a token issued
 * after the revocation. The value is base64 of `{"access_token":{"nbf":{"essential":true,"value":"<epoch>"}}}`.
 */
export function claimsChallenge(revokedAtEpoch: number): string {
  const claims = { access_token: { nbf: { essential: true, value: String(revokedAtEpoch) } } };
  return `Bearer error="insufficient_claims", error_description="The token was issued before the agent's access was revoked", claims="${Buffer.from(JSON.stringify(claims)).toString('base64')}"`;
}

/** RFC 9728: where an MCP client finds how to get a token for this route. */
function metadataParam(route: McpRoute | undefined): string {
  return route?.resourceMetadata == null ? '' : `, resource_metadata="${quote(route.resourceMetadata)}"`;
}

/**
 * The 403 challenge the standards define, when one applies: a scope the token lacks (RFC 6750
 * `insufficient_scope`, what an MCP client steps up with) or a user authentication the
 * on-behalf-of token's sign-in did not satisfy (RFC 9470).
 */
function forbiddenChallenge(result: GatewayDecision, route: McpRoute | undefined): string | null {
  const reasons = result.reasons as McpReason[];
  const scopeMiss = reasons.find((r) => r.code === 'insufficient_scope');
  if (scopeMiss !== undefined) {
    const scope = typeof scopeMiss.scope === 'string' ? `, scope="${quote(scopeMiss.scope)}"` : '';
    return `Bearer error="insufficient_scope"${scope}, error_description="${quote(scopeMiss.message)}"${metadataParam(route)}`;
  }
  const mfa = reasons.find((r) => r.code === 'ca_grant_unsatisfied');
  if (mfa !== undefined && result.user_id !== null) {
    return `Bearer error="insufficient_user_authentication", error_description="${quote(mfa.message)}"${metadataParam(route)}`;
  }
  return null;
}

function replyOf(outcome: GatewayOutcome): Reply {
  const result = outcome.decision;
  const routeId = result.route?.id;
  const mcpRoute =
    routeId === undefined || outcome.mcpRoutes.length === 0
      ? undefined
      : outcome.mcpRoutes.find((r) => r.id === routeId);
  const headers: [string, string][] = [['x-pdp-decision-id', result.decision_id]];
  if (result.status === 200) {
    if (result.agent_id !== null) headers.push(['x-agent-id', result.agent_id]);
    if (result.blueprint_id !== null) headers.push(['x-agent-blueprint', result.blueprint_id]);
    if (result.user_id !== null) headers.push(['x-user-id', result.user_id]);
    return { status: 200, headers, json: null };
  }
  if (result.status === 401) {
    const message = result.reasons[0]?.message ?? 'A valid agent token is required';
    headers.push([
      'WWW-Authenticate',
      result.challenge === 'insufficient_claims' && result.revoked_at_epoch !== null
        ? claimsChallenge(result.revoked_at_epoch)
        : `Bearer error="invalid_token", error_description="${quote(message)}"${metadataParam(mcpRoute)}`,
    ]);
  } else if (result.status === 403) {
    const challenge = forbiddenChallenge(result, mcpRoute);
    if (challenge !== null) headers.push(['WWW-Authenticate', challenge]);
  }
  if (mcpRoute !== undefined) {
    return jsonReply(result.status, jsonRpcDenial(result, outcome.mcp), headers);
  }
  return jsonReply(
    result.status,
    {
      decision: result.decision,
      decision_id: result.decision_id,
      route: result.route,
      reasons: result.reasons,
      revision: result.revision,
    },
    headers,
  );
}

/** The tenant X-PDP-Tenant names, undefined when absent (the token's issuer then names it). */
function tenantOf(req: IncomingMessage): string | undefined {
  const header = req.headers['x-pdp-tenant'];
  const tenant = typeof header === 'string' ? header : undefined;
  if (tenant !== undefined && !TENANT.test(tenant)) {
    throw new PdpError('invalid_request', 'The X-PDP-Tenant header is invalid', [
      { pointer: '/headers/x-pdp-tenant', message: `must match ${TENANT_ID_PATTERN}` },
    ]);
  }
  return tenant;
}

/**
 * The answer to one check request, after caller authentication; shared by the express route and
 * the hot routes. `url`: the check request's target as received. Throws PdpError for a bad tenant.
 */
export async function authorizeReply(
  gateway: GatewayService,
  opts: GatewayRouteOptions,
  req: IncomingMessage,
  url: string,
  caller: string | null,
): Promise<Reply> {
  const tenant = tenantOf(req);
  const original = originalRequest(req, url, opts.pathPrefix, opts.trustedProxyHops);
  try {
    const body = forwardedBody(req, opts.mcpBodyLimitBytes);
    return replyOf(await gateway.check(tenant, original, bearer(req), caller, body));
  } catch (err) {
    if (!(err instanceof PdpError) || err.code !== 'invalid_token') throw err;
    // No route was decided: the first MCP route that may match names the metadata.
    const metadata = metadataParam(gateway.mcpRoutes(tenant ?? gateway.defaultTenant, original)[0]);
    return jsonReply(
      401,
      { decision: 'deny', reasons: [{ code: 'invalid_token', message: err.message, policy_id: null }] },
      [
        [
          'WWW-Authenticate',
          `Bearer error="invalid_token", error_description="${quote(err.message)}"${metadata}`,
        ],
      ],
    );
  }
}

/**
 * `/v1/authorize` for Envoy ext_authz (HTTP service), NGINX auth_request and Traefik forwardAuth.
 * Mounted before the JSON body parser: gateways may forward the original request's body and
 * content type, which are not ours to parse. The caller's key travels in X-API-Key, because
 * Authorization carries the agent's token.
 */
export function gatewayRoutes(
  gateway: GatewayService,
  auth: CallerAuth,
  opts: GatewayRouteOptions,
  issuers: readonly TrustedIssuer[] = [],
): Router {
  const router = Router();
  // RFC 9728 protected resource metadata of each MCP route, for the gateway to expose at the same
  // path: public, as the document itself is (it names only issuers and scopes).
  router.get(`${WELL_KNOWN_PRM}/*path`, (req: Request, res: Response) => {
    const target = classifyRequestPath(req.originalUrl.slice(WELL_KNOWN_PRM.length));
    const tenant = tenantOf(req) ?? gateway.defaultTenant;
    const route = target.problem === null ? gateway.mcpRouteAt(tenant, target.path) : undefined;
    if (route === undefined) throw new PdpError('not_found', 'No MCP route is published at this path');
    res.setHeader('Cache-Control', 'max-age=300');
    writeReply(res, jsonReply(200, resourceMetadata(route, tenant, issuers)));
  });
  const handler = async (req: Request, res: Response): Promise<void> => {
    // The raw target as Node received it: mounting rewrites req.url.
    writeReply(res, await authorizeReply(gateway, opts, req, req.originalUrl, callerName(res)));
  };
  const guard = auth.requireApiKeyHeader('authorize');
  // Mounted with use(), not a `/*path` route: a route parameter is percent-decoded by the router,
  // which answers 400 for `%zz` or `%c0%ae` before the path classifier can deny it as not canonical.
  router.use(opts.pathPrefix, guard, handler);
  return router;
}
