import type { TrustedIssuer } from '../auth/agent-tokens';
import type { McpRoute } from './route-index';

/** RFC 9728 §3: the well-known path a protected resource's metadata lives under. */
export const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource';

/**
 * The resource identifier: the URL the metadata URL was formed from (RFC 9728 §3.1 inserts the
 * well-known path between the host and the resource's path), else the route's token audience.
 */
function resourceOf(route: McpRoute): string {
  const url = route.resourceMetadata;
  if (url !== null) {
    const parsed = new URL(url);
    if (parsed.pathname.startsWith(WELL_KNOWN_PRM)) {
      return `${parsed.origin}${parsed.pathname.slice(WELL_KNOWN_PRM.length)}`;
    }
  }
  return route.resource;
}

/**
 * An MCP route's protected resource metadata (RFC 9728 §2): the resource, the authorization
 * servers (the issuers trusted for the tenant) and every scope the route or its tools,
 * resources and prompts name.
 */
export function resourceMetadata(route: McpRoute, tenant: string, issuers: readonly TrustedIssuer[]): object {
  const scopes = new Set<string>(route.routeScopes);
  for (const table of [route.tools, route.prompts])
    for (const grant of table.values()) for (const s of grant.scopes) scopes.add(s);
  for (const r of route.resources) for (const s of r.scopes) scopes.add(s);
  return {
    resource: resourceOf(route),
    authorization_servers: [...new Set(issuers.filter((i) => i.tenant === tenant).map((i) => i.issuer))],
    scopes_supported: [...scopes],
    bearer_methods_supported: ['header'],
    resource_name: route.id,
  };
}
