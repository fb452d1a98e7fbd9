import type { IncomingMessage } from 'node:http';
import { Router, type Request, type Response } from 'express';
import { callerName, type CallerAuth } from '../auth/caller-auth';
import type { GatewayService } from '../decision/gateway';
import type { GatewayDecision } from '../decision/run';
import { PdpError } from '../errors';
import { originalRequest } from '../http/original-request';
import { jsonReply, writeReply, type Reply } from '../http/reply';
import { TENANT_PATTERN as TENANT_ID_PATTERN } from '../vocabulary';

const TENANT = new RegExp(TENANT_ID_PATTERN);

export interface GatewayRouteOptions {
  /** Envoy ext_authz `path_prefix`, also the route's mount point. */
  pathPrefix: string;
  trustedProxyHops: number;
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

function replyOf(result: GatewayDecision): Reply {
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
        : `Bearer error="invalid_token", error_description="${quote(message)}"`,
    ]);
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
  const header = req.headers['x-pdp-tenant'];
  // Absent: the tenant of the token's issuer (GatewayService.authorize).
  const tenant = typeof header === 'string' ? header : undefined;
  if (tenant !== undefined && !TENANT.test(tenant)) {
    throw new PdpError('invalid_request', 'The X-PDP-Tenant header is invalid', [
      { pointer: '/headers/x-pdp-tenant', message: `must match ${TENANT_ID_PATTERN}` },
    ]);
  }
  const original = originalRequest(req, url, opts.pathPrefix, opts.trustedProxyHops);
  try {
    return replyOf(await gateway.authorize(tenant, original, bearer(req), caller));
  } catch (err) {
    if (!(err instanceof PdpError) || err.code !== 'invalid_token') throw err;
    return jsonReply(
      401,
      { decision: 'deny', reasons: [{ code: 'invalid_token', message: err.message, policy_id: null }] },
      [['WWW-Authenticate', `Bearer error="invalid_token", error_description="${quote(err.message)}"`]],
    );
  }
}

/**
 * `/v1/authorize` for Envoy ext_authz (HTTP service), NGINX auth_request and Traefik forwardAuth.
 * Mounted before the JSON body parser: gateways may forward the original request's body and
 * content type, which are not ours to parse. The caller's key travels in X-API-Key, because
 * Authorization carries the agent's token.
 */
export function gatewayRoutes(gateway: GatewayService, auth: CallerAuth, opts: GatewayRouteOptions): Router {
  const router = Router();
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
