/**
 * Deterministic, realistic Conditional Access documents for benchmarks: a mix of agent, blueprint
 * and filter assignments, applications, risk, users, locations, platforms, flows and controls.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

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

export function caDocuments(n: number, seed = 42): Record<string, unknown>[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const docs: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const id = `ca-bench-${String(i).padStart(4, '0')}`;
    const conditions: Record<string, unknown> = {};
    const kind = i % 4;
    if (kind === 0) {
      conditions['clientApplications'] = {
        includeAgentIdServicePrincipals: ['All'],
        excludeAgentIdServicePrincipals: [`agt-exempt-${i}`],
      };
    } else if (kind === 1) {
      conditions['clientApplications'] = {
        includeAgentIdBlueprints: [pick(BLUEPRINTS), pick(BLUEPRINTS)].filter(
          (v, j, a) => a.indexOf(v) === j,
        ),
      };
    } else if (kind === 2) {
      conditions['clientApplications'] = {
        agentIdServicePrincipalFilter: {
          mode: 'include',
          rule: `attributes.tier -eq "${pick(['prod', 'lab'])}" -and (displayName -startsWith "${pick(['Invoice', 'lab-', 'ops'])}" -or blueprintId -in ["${pick(BLUEPRINTS)}","${pick(BLUEPRINTS)}"])`,
        },
      };
    }
    conditions['applications'] =
      r() < 0.3 ? { includeApplications: ['All'] } : { includeApplications: [pick(RESOURCES)] };
    if (r() < 0.4) conditions['agentIdRiskLevels'] = r() < 0.5 ? ['high'] : ['medium', 'high'];
    if (r() < 0.25) {
      conditions['users'] = { includeUsers: ['All'], excludeUsers: [`u-exempt-${i}`] };
      if (r() < 0.5) conditions['userRiskLevels'] = ['medium', 'high'];
    }
    if (r() < 0.2) conditions['signInRiskLevels'] = ['high'];
    if (r() < 0.35) conditions['locations'] = { includeLocations: ['All'], excludeLocations: ['AllTrusted'] };
    if (r() < 0.15) conditions['platforms'] = { includePlatforms: ['all'], excludePlatforms: ['linux'] };
    if (r() < 0.3) conditions['flows'] = r() < 0.5 ? ['on_behalf_of', 'agent_user'] : ['autonomous'];
    const doc: Record<string, unknown> = {
      id,
      displayName: `Benchmark policy ${i}`,
      state: pick(['enabled', 'enabled', 'enabled', 'enabledForReportingButNotEnforced', 'disabled']),
      conditions,
    };
    const control = r();
    if (control < 0.35) doc['grantControls'] = { operator: 'OR', builtInControls: ['block'] };
    else if (control < 0.6)
      doc['grantControls'] = { operator: pick(['AND', 'OR']), builtInControls: ['mfa', 'compliantDevice'] };
    else
      doc['agentControls'] = {
        allowedScopes: ['payments.read', 'invoices.read', 'docs.read'],
        maxTokenTtlSeconds: 900 + i,
      };
    if (r() < 0.2)
      doc['sessionControls'] = { signInFrequency: { isEnabled: true, type: 'hours', value: 1 + (i % 8) } };
    docs.push(doc);
  }
  return docs;
}

export const NAMED_LOCATIONS = [
  {
    id: 'loc-corp',
    displayName: 'Corporate networks',
    trusted: true,
    ipRanges: ['198.51.100.0/24', '2001:db8:1::/48'],
  },
  { id: 'loc-embargoed', displayName: 'Embargoed', trusted: false, countries: ['KP', 'IR'] },
];

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
