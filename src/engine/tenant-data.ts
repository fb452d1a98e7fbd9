import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { PdpError, type ErrorDetail } from '../errors';
import { caPolicySchema, namedLocationsSchema } from '../schemas/ca-policy';
import { gatewayRoutesSchema } from '../schemas/gateway-routes';
import { createAjv, toDetails } from '../schemas/ajv';
import { FilterRuleError, parseFilterRule, type Dnf } from './filter-rule';

/** A CA document as written, plus what the engine derives from it once per load. */
export interface CompiledPolicy {
  id: string;
  displayName: string;
  state: 'enabled' | 'disabled' | 'enabledForReportingButNotEnforced';
  [field: string]: unknown;
  compiled: {
    agent_filter: { mode: 'include' | 'exclude'; dnf: Dnf } | null;
    sign_in_frequency_seconds: number | null;
  };
}

export interface NamedLocation {
  id: string;
  displayName: string;
  trusted?: boolean;
  ipRanges?: string[];
  countries?: string[];
}

export interface TenantData {
  policies: CompiledPolicy[];
  named_locations: NamedLocation[];
  /** Present for tenants that define gateway routes; the gateway entrypoint reads it. */
  gateway_routes?: unknown;
}

/** Raw documents of one tenant, with where each came from for error messages. */
interface RawTenant {
  policies: Map<string, { doc: unknown; file: string }>;
  namedLocations: { doc: unknown; file: string } | null;
  gatewayRoutes: { doc: unknown; file: string } | null;
}

export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class TenantDataCompiler {
  private readonly validatePolicy: ValidateFunction;
  private readonly validateLocations: ValidateFunction;
  private readonly validateRoutes: ValidateFunction;

  constructor() {
    const ajv = createAjv();
    this.validatePolicy = ajv.compile(caPolicySchema);
    this.validateLocations = ajv.compile(namedLocationsSchema);
    this.validateRoutes = ajv.compile(gatewayRoutesSchema);
  }

  /**
   * Bundle data (`tenants.<t>.conditional_access[]`, `named_locations[]`, `gateway_routes`) merged
   * with the data directory, which wins per policy id. All problems are collected, then the whole
   * load is rejected so a half-valid set of policies never serves.
   */
  async compile(
    bundleData: Record<string, unknown>,
    dataDir: string | null,
  ): Promise<Record<string, TenantData>> {
    const raw = new Map<string, RawTenant>();
    const details: ErrorDetail[] = [];
    collectBundle(bundleData, raw, details);
    if (dataDir !== null) await collectDir(dataDir, raw, details);

    const tenants: Record<string, TenantData> = {};
    for (const [tenant, t] of [...raw.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const policies: CompiledPolicy[] = [];
      for (const [, { doc, file }] of [...t.policies.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        const compiled = this.compilePolicy(doc, file, details);
        if (compiled !== null) policies.push(compiled);
      }
      let namedLocations: NamedLocation[] = [];
      if (t.namedLocations !== null) {
        if (this.validateLocations(t.namedLocations.doc)) {
          namedLocations = t.namedLocations.doc as NamedLocation[];
        } else {
          for (const d of toDetails(this.validateLocations.errors))
            details.push({ ...d, file: t.namedLocations.file });
        }
      }
      const locationIds = new Set(namedLocations.map((l) => l.id));
      for (const p of policies) checkLocationRefs(p, locationIds, t.policies.get(p.id)?.file ?? '', details);
      tenants[tenant] = { policies, named_locations: namedLocations };
      if (t.gatewayRoutes !== null) {
        if (this.validateRoutes(t.gatewayRoutes.doc)) {
          tenants[tenant].gateway_routes = t.gatewayRoutes.doc;
        } else {
          for (const d of toDetails(this.validateRoutes.errors))
            details.push({ ...d, file: t.gatewayRoutes.file });
        }
      }
    }
    if (details.length > 0) {
      const first = details[0];
      const where = first === undefined ? '' : ` (first: ${describe(first)})`;
      throw new PdpError('data_invalid', `${details.length} problem(s) in policy data${where}`, details);
    }
    return tenants;
  }

  private compilePolicy(doc: unknown, file: string, details: ErrorDetail[]): CompiledPolicy | null {
    const policyId = policyIdOf(doc);
    if (!this.validatePolicy(doc)) {
      for (const d of toDetails(this.validatePolicy.errors)) {
        details.push({ ...d, file, ...(policyId !== undefined && { policy_id: policyId }) });
      }
      return null;
    }
    const policy = doc as Pick<CompiledPolicy, 'id' | 'displayName' | 'state'> & {
      conditions?: {
        clientApplications?: {
          agentIdServicePrincipalFilter?: { mode: 'include' | 'exclude'; rule: string };
        };
      };
      sessionControls?: {
        signInFrequency?: { isEnabled: boolean; type?: 'hours' | 'days'; value?: number };
      } | null;
    };
    let agentFilter: CompiledPolicy['compiled']['agent_filter'] = null;
    const filter = policy.conditions?.clientApplications?.agentIdServicePrincipalFilter;
    if (filter !== undefined) {
      try {
        agentFilter = { mode: filter.mode, dnf: parseFilterRule(filter.rule) };
      } catch (err) {
        details.push({
          file,
          policy_id: policy.id,
          pointer: '/conditions/clientApplications/agentIdServicePrincipalFilter/rule',
          message: err instanceof FilterRuleError ? err.message : String(err),
          keyword: 'filterRule',
        });
        return null;
      }
    }
    const sif = policy.sessionControls?.signInFrequency;
    const sifSeconds =
      sif?.isEnabled === true && sif.value !== undefined
        ? sif.value * (sif.type === 'days' ? 86400 : 3600)
        : null;
    return { ...policy, compiled: { agent_filter: agentFilter, sign_in_frequency_seconds: sifSeconds } };
  }
}

function policyIdOf(doc: unknown): string | undefined {
  if (typeof doc === 'object' && doc !== null && typeof (doc as { id?: unknown }).id === 'string') {
    return (doc as { id: string }).id;
  }
  return undefined;
}

function describe(d: ErrorDetail): string {
  return [d.file, d.policy_id, `${d.pointer === '' ? '/' : d.pointer} ${d.message}`]
    .filter(Boolean)
    .join(' ');
}

/** A location id that names no location would never match: reject it instead of guessing. */
function checkLocationRefs(p: CompiledPolicy, ids: Set<string>, file: string, details: ErrorDetail[]): void {
  const locations = (p['conditions'] as { locations?: Record<string, string[] | undefined> } | undefined)
    ?.locations;
  for (const field of ['includeLocations', 'excludeLocations']) {
    (locations?.[field] ?? []).forEach((id, i) => {
      if (id !== 'All' && id !== 'AllTrusted' && !ids.has(id)) {
        details.push({
          file,
          policy_id: p.id,
          pointer: `/conditions/locations/${field}/${i}`,
          message: `names unknown location "${id}"`,
          keyword: 'namedLocation',
        });
      }
    });
  }
}

function tenantOf(raw: Map<string, RawTenant>, tenant: string): RawTenant {
  let t = raw.get(tenant);
  if (t === undefined) {
    t = { policies: new Map(), namedLocations: null, gatewayRoutes: null };
    raw.set(tenant, t);
  }
  return t;
}

function collectBundle(
  data: Record<string, unknown>,
  raw: Map<string, RawTenant>,
  details: ErrorDetail[],
): void {
  const tenants = data['tenants'];
  if (tenants === undefined) return;
  if (typeof tenants !== 'object' || tenants === null || Array.isArray(tenants)) {
    details.push({ file: 'bundle:data.json', pointer: '/tenants', message: 'must be an object' });
    return;
  }
  for (const [tenant, value] of Object.entries(tenants as Record<string, unknown>)) {
    const file = `bundle:data.json#/tenants/${tenant}`;
    if (!TENANT_PATTERN.test(tenant)) {
      details.push({ file, pointer: `/tenants/${tenant}`, message: 'is not a valid tenant name' });
      continue;
    }
    const t = tenantOf(raw, tenant);
    const v = (value ?? {}) as Record<string, unknown>;
    const docs = v['conditional_access'];
    if (Array.isArray(docs)) {
      docs.forEach((doc, i) => {
        const id = policyIdOf(doc) ?? `#${i}`;
        t.policies.set(id, { doc, file: `${file}/conditional_access/${i}` });
      });
    }
    if (v['named_locations'] !== undefined) t.namedLocations = { doc: v['named_locations'], file };
    if (v['gateway_routes'] !== undefined) t.gatewayRoutes = { doc: v['gateway_routes'], file };
  }
}

async function readJson(
  file: string,
  details: ErrorDetail[],
): Promise<{ ok: true; doc: unknown } | { ok: false }> {
  try {
    return { ok: true, doc: JSON.parse(await readFile(file, 'utf8')) as unknown };
  } catch (err) {
    details.push({
      file,
      pointer: '',
      message: `is not readable JSON: ${(err as Error).message}`,
      keyword: 'json',
    });
    return { ok: false };
  }
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function collectDir(
  dataDir: string,
  raw: Map<string, RawTenant>,
  details: ErrorDetail[],
): Promise<void> {
  if (!(await isDir(dataDir))) {
    details.push({ file: dataDir, pointer: '', message: 'PDP_DATA_DIR is not a directory' });
    return;
  }
  for (const tenant of (await readdir(dataDir)).sort()) {
    const tenantDir = path.join(dataDir, tenant);
    if (tenant.startsWith('.') || !(await isDir(tenantDir))) continue;
    if (!TENANT_PATTERN.test(tenant)) {
      details.push({ file: tenantDir, pointer: '', message: 'directory name is not a valid tenant name' });
      continue;
    }
    const t = tenantOf(raw, tenant);
    const caDir = path.join(tenantDir, 'conditional-access');
    if (await isDir(caDir)) {
      const files = (await readdir(caDir)).filter((f) => f.endsWith('.json')).sort();
      for (const f of files) {
        const file = path.join(caDir, f);
        const read = await readJson(file, details);
        if (!read.ok) continue;
        const id = policyIdOf(read.doc) ?? f;
        const expected = f.slice(0, -'.json'.length);
        if (id !== expected) {
          details.push({
            file,
            pointer: '/id',
            message: `must equal the file name "${expected}"`,
            policy_id: id,
          });
          continue;
        }
        t.policies.set(id, { doc: read.doc, file });
      }
    }
    for (const [name, field] of [
      ['named-locations.json', 'namedLocations'],
      ['gateway-routes.json', 'gatewayRoutes'],
    ] as const) {
      const file = path.join(tenantDir, name);
      if ((await stat(file).catch(() => null)) === null) continue;
      const read = await readJson(file, details);
      if (read.ok) t[field] = { doc: read.doc, file };
    }
  }
}

/** Short content hash: identical data gives the identical revision on every replica. */
export function dataRevision(tenants: Record<string, TenantData>): string {
  return createHash('sha256').update(JSON.stringify(tenants)).digest('hex').slice(0, 12);
}
