import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { EXAMPLE_DATA, EXAMPLE_DIRECTORY } from './app';
import type { GraphStandIn } from './graph-stand-in';

type Obj = Record<string, unknown>;

/** The example tenant's directory, reduced to what Graph can carry (no max TTL, free attributes, expiry). */
export interface PdpDirectory {
  blueprints: Record<string, Obj>;
  agents: Record<string, Obj>;
  agent_users: Record<string, Obj>;
  resources: Record<string, Obj>;
  agent_risk: Record<string, Obj>;
  user_risk: Record<string, Obj>;
}

export function exampleDirectory(): PdpDirectory {
  const raw = (JSON.parse(readFileSync(EXAMPLE_DIRECTORY, 'utf8')) as { tenants: { default: PdpDirectory } })
    .tenants.default;
  const blueprints: Record<string, Obj> = {};
  for (const [id, b] of Object.entries(raw.blueprints)) {
    blueprints[id] = {
      display_name: b['display_name'],
      enabled: b['enabled'],
      permissions: b['permissions'],
      max_ttl_seconds: null,
      principal_id: b['principal_id'] ?? `${id}-principal`,
      attributes: {},
    };
  }
  const agents: Record<string, Obj> = {};
  for (const [id, a] of Object.entries(raw.agents)) {
    agents[id] = {
      blueprint_id: a['blueprint_id'],
      display_name: a['display_name'],
      enabled: a['enabled'],
      sponsors: a['sponsors'],
      attributes: {},
      ...(a['custom_security_attributes'] !== undefined && {
        custom_security_attributes: a['custom_security_attributes'],
      }),
    };
  }
  const agent_users: Record<string, Obj> = {};
  for (const [id, u] of Object.entries(raw.agent_users)) {
    agent_users[id] = { agent_id: u['agent_id'], display_name: u['display_name'], enabled: u['enabled'] };
  }
  return {
    blueprints,
    agents,
    agent_users,
    resources: raw.resources,
    agent_risk: raw.agent_risk,
    user_risk: raw.user_risk,
  };
}

/** The example tenant's conditional access policies and named locations, as files hold them. */
export function examplePolicies(): { policies: Obj[]; namedLocations: Obj[] } {
  const dir = path.join(EXAMPLE_DATA, 'default/conditional-access');
  const policies = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const doc = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Obj;
      return { ...doc, id: doc['id'] ?? f.slice(0, -5) };
    });
  const locations = JSON.parse(
    readFileSync(path.join(EXAMPLE_DATA, 'default/named-locations.json'), 'utf8'),
  ) as Obj | Obj[];
  const namedLocations = Array.isArray(locations) ? locations : (locations['value'] as Obj[]);
  return { policies, namedLocations };
}

/** Loads the directory into the stand-in in Graph's shapes. */
export function loadStandIn(g: GraphStandIn, dir: PdpDirectory, docs = examplePolicies()): void {
  const s = g.state;
  s.policies = docs.policies;
  s.namedLocations = docs.namedLocations;
  s.blueprints = [];
  s.principals = [];
  s.inheritable.clear();
  for (const [id, b] of Object.entries(dir.blueprints)) {
    const objectId = `app-${id}`;
    s.blueprints.push({ id: objectId, appId: id, displayName: b['display_name'] });
    s.inheritable.set(
      objectId,
      Object.entries(b['permissions'] as Record<string, string[]>).map(([resource, scopes]) => ({
        resourceAppId: resource,
        inheritableScopes: { '@odata.type': '#microsoft.graph.enumeratedScopes', kind: 'scopes', scopes },
      })),
    );
    s.principals.push({
      '@odata.type': '#microsoft.graph.agentIdentityBlueprintPrincipal',
      id: b['principal_id'],
      appId: id,
      displayName: b['display_name'],
      accountEnabled: b['enabled'],
    });
  }
  s.agents = [];
  s.sponsors.clear();
  for (const [id, a] of Object.entries(dir.agents)) {
    s.agents.push({
      '@odata.type': '#microsoft.graph.agentIdentity',
      id,
      displayName: a['display_name'],
      accountEnabled: a['enabled'],
      agentIdentityBlueprintId: a['blueprint_id'],
      customSecurityAttributes: a['custom_security_attributes'] ?? null,
    });
    s.sponsors.set(id, a['sponsors'] as string[]);
  }
  s.agentUsers = Object.entries(dir.agent_users).map(([id, u]) => ({
    '@odata.type': '#microsoft.graph.agentUser',
    id,
    displayName: u['display_name'],
    accountEnabled: u['enabled'],
    identityParentId: u['agent_id'],
  }));
  s.riskyAgents = Object.entries(dir.agent_risk).map(([id, r]) => ({
    '@odata.type': '#microsoft.graph.riskyAgentIdentity',
    id,
    agentDisplayName: id,
    identityType: 'agentIdentity',
    isDeleted: false,
    isEnabled: true,
    isProcessing: false,
    riskLevel: r['level'],
    riskState: r['state'] ?? 'atRisk',
    riskDetail: 'none',
    riskLastUpdatedDateTime: '2026-11-27T11:00:00Z',
  }));
  s.riskyUsers = Object.entries(dir.user_risk).map(([id, r]) => ({
    id,
    isDeleted: false,
    isProcessing: false,
    riskLevel: r['level'],
    riskState: 'atRisk',
    riskDetail: 'none',
    riskLastUpdatedDateTime: '2026-11-27T11:00:00Z',
    userDisplayName: id,
    userPrincipalName: `${id}@contoso.example`,
  }));
}
