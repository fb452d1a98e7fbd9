/**
 * Deterministic, realistic Conditional Access documents for benchmarks, in Microsoft Graph's own
 * shape: a mix of agent, blueprint and filter assignments, users and agent users, applications,
 * risk, locations, platforms, client app types, flows and controls.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildInput, type PolicyInput } from '../../src/decision/input';

/** mulberry32: small, seedable, good enough to vary documents reproducibly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RESOURCES = ['api://payments', 'api://invoices', 'api://docs', 'api://search', 'api://hr', 'api://crm'];
const BLUEPRINTS = ['bp-invoice', 'bp-research', 'bp-lab', 'bp-support', 'bp-ops'];

/** A deterministic GUID-shaped id, as Graph gives policies. */
function guid(r: () => number): string {
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

/**
 * `n` policies as `GET /beta/identity/conditionalAccess/policies` returns them: GUID ids, every
 * condition present (`null` or empty when not set), read-only fields. A mix of the three kinds
 * Entra has for agents: agent-identity policies (block, or the agentControls extension), user
 * policies (on behalf of a user) and agent-user policies, with risk, locations, platforms,
 * client app types, filters and a few `flows` opt-ins.
 */
export function caDocuments(n: number, seed = 42): Record<string, unknown>[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const docs: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 5;
    const agentPolicy = kind <= 2;
    const clientApplications: Record<string, unknown> = {
      includeServicePrincipals: [],
      excludeServicePrincipals: [],
      servicePrincipalFilter: null,
      includeAgentIdServicePrincipals: [],
      excludeAgentIdServicePrincipals: [],
      agentIdServicePrincipalFilter: null,
    };
    if (kind === 0) {
      clientApplications['includeAgentIdServicePrincipals'] = ['All'];
      clientApplications['excludeAgentIdServicePrincipals'] = [`agt-exempt-${i}`];
    } else if (kind === 1) {
      clientApplications['includeAgentIdServicePrincipals'] = [pick(BLUEPRINTS), pick(BLUEPRINTS)].filter(
        (v, j, a) => a.indexOf(v) === j,
      );
    } else if (kind === 2) {
      clientApplications['agentIdServicePrincipalFilter'] = {
        mode: 'include',
        rule: `CustomSecurityAttribute.AgentInfo_Tier -eq "${pick(['prod', 'lab'])}" -and (CustomSecurityAttribute.AgentInfo_Team -startsWith "${pick(['fin', 'lab', 'ops'])}" -or CustomSecurityAttribute.AgentInfo_Zone -in ["${pick(['eu', 'us'])}","${pick(['apac', 'eu'])}"])`,
      };
    }
    const users =
      kind === 3
        ? {
            includeUsers: ['All'],
            excludeUsers: [`u-exempt-${i}`],
            includeGroups: [],
            excludeGroups: r() < 0.5 ? ['g-breakglass'] : [],
          }
        : kind === 4
          ? { includeUsers: ['AllAgentIdUsers'], excludeUsers: [] }
          : { includeUsers: ['None'], excludeUsers: [] };
    const flows = !agentPolicy && r() < 0.2 ? { flows: ['on_behalf_of', 'agent_user'] } : {};
    const conditions: Record<string, unknown> = {
      userRiskLevels: kind === 3 && r() < 0.5 ? ['medium', 'high'] : [],
      signInRiskLevels: kind === 3 && r() < 0.3 ? ['high'] : [],
      clientAppTypes: kind === 3 && r() < 0.3 ? ['mobileAppsAndDesktopClients', 'other'] : ['all'],
      servicePrincipalRiskLevels: [],
      agentIdRiskLevels: r() < 0.4 ? (r() < 0.5 ? 'high' : 'medium,high') : null,
      platforms:
        !agentPolicy && r() < 0.3 ? { includePlatforms: ['all'], excludePlatforms: ['linux'] } : null,
      locations: r() < 0.35 ? { includeLocations: ['All'], excludeLocations: ['AllTrusted'] } : null,
      devices: null,
      clientApplications,
      applications: {
        includeApplications: r() < 0.3 ? ['All'] : [pick(RESOURCES)],
        excludeApplications: [],
        includeUserActions: [],
        includeAuthenticationContextClassReferences: [],
        applicationFilter: null,
      },
      users: {
        includeGroups: [],
        excludeGroups: [],
        includeRoles: [],
        excludeRoles: [],
        includeGuestsOrExternalUsers: null,
        excludeGuestsOrExternalUsers: null,
        ...users,
      },
      ...flows,
    };
    const doc: Record<string, unknown> = {
      id: guid(r),
      templateId: null,
      displayName: `Benchmark policy ${i}`,
      createdDateTime: '2026-11-01T09:00:00.0000000Z',
      modifiedDateTime: null,
      state: pick(['enabled', 'enabled', 'enabled', 'enabledForReportingButNotEnforced', 'disabled']),
      conditions,
      grantControls: null,
      sessionControls: null,
    };
    const control = r();
    if (agentPolicy) {
      if (control < 0.6)
        doc['grantControls'] = {
          operator: 'OR',
          builtInControls: ['block'],
          customAuthenticationFactors: [],
          termsOfUse: [],
        };
      else
        doc['agentControls'] = {
          allowedScopes: ['payments.read', 'invoices.read', 'docs.read'],
          maxTokenTtlSeconds: 900 + i,
        };
    } else if (kind === 4) {
      doc['grantControls'] = {
        operator: 'OR',
        builtInControls: [control < 0.5 ? 'block' : 'compliantDevice'],
        customAuthenticationFactors: [],
        termsOfUse: [],
      };
    } else {
      doc['grantControls'] =
        control < 0.3
          ? { operator: 'OR', builtInControls: ['block'], customAuthenticationFactors: [], termsOfUse: [] }
          : {
              operator: pick(['AND', 'OR']),
              builtInControls: ['mfa', 'compliantDevice'],
              customAuthenticationFactors: [],
              termsOfUse: [],
            };
      if (r() < 0.3)
        doc['sessionControls'] = {
          signInFrequency: {
            isEnabled: true,
            type: 'hours',
            value: 1 + (i % 8),
            frequencyInterval: 'timeBased',
            authenticationType: 'primaryAndSecondaryAuthentication',
          },
        };
    }
    docs.push(doc);
  }
  return docs;
}

/** A `GET /beta/identity/conditionalAccess/namedLocations` export. */
export const NAMED_LOCATIONS = {
  '@odata.context': 'https://graph.microsoft.com/beta/$metadata#identity/conditionalAccess/namedLocations',
  value: [
    {
      '@odata.type': '#microsoft.graph.ipNamedLocation',
      id: 'loc-corp',
      displayName: 'Corporate networks',
      createdDateTime: '2026-11-01T09:00:00Z',
      modifiedDateTime: null,
      isTrusted: true,
      ipRanges: [
        { '@odata.type': '#microsoft.graph.iPv4CidrRange', cidrAddress: '198.51.100.0/24' },
        { '@odata.type': '#microsoft.graph.iPv6CidrRange', cidrAddress: '2001:db8:1::/48' },
      ],
    },
    {
      '@odata.type': '#microsoft.graph.countryNamedLocation',
      id: 'loc-embargoed',
      displayName: 'Embargoed',
      createdDateTime: '2026-11-01T09:00:00Z',
      modifiedDateTime: null,
      countriesAndRegions: ['KP', 'IR'],
      includeUnknownCountriesAndRegions: false,
      countryLookupMethod: 'clientIpAddress',
    },
  ],
};

export const GATEWAY_ROUTES = {
  default: 'deny',
  routes: [
    { id: 'health', methods: ['GET'], path: '/healthz', public: true },
    { id: 'invoices', path: '/invoices/*', resource: 'api://invoices', scopes: ['invoices.read'] },
    { id: 'docs', methods: ['GET'], path: '/docs/**', resource: 'api://docs', scopes: ['docs.read'] },
    {
      id: 'payments-read',
      methods: ['GET', 'HEAD'],
      path: '/payments/**',
      resource: 'api://payments',
      scopes: ['payments.read', 'payments.write'],
    },
    {
      id: 'payments-write',
      methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
      path: '/payments/**',
      resource: 'api://payments',
      scopes: ['payments.write'],
    },
  ],
};

/** Writes a PDP_DATA_DIR with `tenants` tenants of `docs` documents each (tenant `default` first). */
export function writeDataDir(docsPerTenant: number, tenants = 1, seed = 42): string {
  const dir = mkdtempSync(path.join(tmpdir(), `pdp-bench-${docsPerTenant}x${tenants}-`));
  for (let t = 0; t < tenants; t++) {
    const tenant = t === 0 ? 'default' : `tenant-${t}`;
    const caDir = path.join(dir, tenant, 'conditional-access');
    mkdirSync(caDir, { recursive: true });
    for (const doc of caDocuments(docsPerTenant, seed + t))
      writeFileSync(path.join(caDir, `${String(doc['id'])}.json`), JSON.stringify(doc));
    writeFileSync(path.join(dir, tenant, 'named-locations.json'), JSON.stringify(NAMED_LOCATIONS));
    writeFileSync(path.join(dir, tenant, 'gateway-routes.json'), JSON.stringify(GATEWAY_ROUTES));
  }
  return dir;
}

/** The bench's fixed clock: the time every engine benchmark decides at. */
export const BENCH_NOW = Date.parse('2026-11-27T12:00:00Z');

/** A realistic decide input: a known prod agent asking for payments from an untrusted address. */
export function decideInput(tenant = 'default'): PolicyInput {
  return buildInput(
    {
      tenant,
      flow: 'on_behalf_of',
      agent_id: 'agt-7f3a',
      resource: 'api://payments',
      scopes: ['payments.read', 'payments.write'],
      requested_ttl_seconds: 3600,
      user: {
        id: 'u-42',
        amr: ['pwd', 'mfa'],
        risk: 'low',
        device: { platform: 'windows', compliant: true },
      },
      client: { ip: '203.0.113.7', country: 'NL' },
    },
    {
      agent: {
        id: 'agt-7f3a',
        blueprint_id: 'bp-invoice',
        display_name: 'Invoice bot EU',
        enabled: true,
        sponsors: ['u-1'],
        attributes: { tier: 'prod' },
      },
      blueprint: {
        id: 'bp-invoice',
        enabled: true,
        permissions: { 'api://payments': ['payments.read', 'payments.write'] },
        max_ttl_seconds: 3600,
        attributes: {},
      },
      blueprintRisk: null,
      agentUser: null,
      agentUserRisk: null,
      resource: null,
      resourceAgent: null,
      agentRisk: { level: 'low' },
      userRisk: null,
      revocation: null,
      grants: [],
      lifecycle: null,
      activity: null,
      degraded: false,
      unavailable: false,
    },
    BENCH_NOW,
  );
}
