import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { lstat, readFile, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { PdpError, type ErrorDetail } from '../errors';
import { graphSchema } from '../schemas/graph/ca-graph-model';
import { gatewayRoutesSchema } from '../schemas/gateway-routes';
import { createAjv, toDetails } from '../schemas/ajv';
import { JsonDocumentError, MAX_JSON_DEPTH, parseJsonBytes } from '../strict-json';
import { DOCUMENT_ID_RE as ID_PATTERN, TENANT_RE as TENANT_PATTERN } from '../vocabulary';
import { compileCaIndex, type CaIndex } from './ca-index';
import {
  ALL,
  ALL_TRUSTED,
  COMPLIANT_NETWORK_LOCATION,
  type CompiledPolicy,
  type NamedLocation,
} from './ca-model';
import { normalisePolicy } from './ca-normalise';
import { withLiteralPrefixes } from './route-prefix';
import { compileMcpRoutes, type McpRoute } from '../mcp/route-index';

export type { CompiledPolicy, NamedLocation } from './ca-model';

export interface TenantData {
  /** The evaluation model of each document (ca-model.ts); the Graph documents stay out of the WASM. */
  policies: CompiledPolicy[];
  named_locations: NamedLocation[];
  /** The policies compiled for evaluation (see compileCaIndex); Rego reads nothing else per policy until one applies. */
  ca_index: CaIndex;
  /** Present for tenants that define gateway routes; the gateway entrypoint reads it. */
  gateway_routes?: unknown;
}

/** A document and where it came from: the file, and its pointer inside it (a collection's `/value/3`). */
interface Source {
  doc: unknown;
  file: string;
  at: string;
}

/**
 * A tenant's documents from outside the bundle and the data directory (the Microsoft Graph sync):
 * Graph's `conditionalAccessPolicy` and named-location JSON as Graph served it. `source` names it
 * in error details (e.g. `graph:<tenant>`). Precedence per policy id and per location id:
 * bundle < external < data directory.
 */
export interface ExternalTenantDocs {
  readonly policies: readonly unknown[];
  readonly named_locations: readonly unknown[];
  readonly source: string;
}

/** Raw documents of one tenant, with where each came from for error messages. */
interface RawTenant {
  policies: Map<string, Source>;
  /** Named locations from an external source, merged under the data directory's by id. */
  externalLocations: { doc: unknown; file: string } | null;
  /** Policy ids from the data directory: one id in two files is an error (the bundle's it overrides). */
  dirPolicyIds: Map<string, string>;
  namedLocations: { doc: unknown; file: string } | null;
  gatewayRoutes: { doc: unknown; file: string } | null;
}

/** Ids a named location may not take: Graph's sentinels in includeLocations / excludeLocations. */
const RESERVED_LOCATION_IDS: ReadonlySet<string> = new Set([ALL, ALL_TRUSTED, COMPLIANT_NETWORK_LOCATION]);

const IP_LOCATION = '#microsoft.graph.ipNamedLocation';
const COUNTRY_LOCATION = '#microsoft.graph.countryNamedLocation';

/** A named location as loaded, with what only the loader needs. */
interface LoadedLocation {
  location: NamedLocation;
  gpsLookup: boolean;
}

/**
 * Each tenant's compiled MCP routes (validators are functions, so they stay out of TenantData, which
 * is serialised for the WASM engine); read into the tenant's summary.
 */
const MCP_ROUTES = new WeakMap<TenantData, readonly McpRoute[]>();
const NO_MCP_ROUTES: readonly McpRoute[] = Object.freeze([]);

export class TenantDataCompiler {
  private readonly validatePolicy: ValidateFunction;
  private readonly validateIpLocation: ValidateFunction;
  private readonly validateCountryLocation: ValidateFunction;
  private readonly validateRoutes: ValidateFunction;

  constructor() {
    const ajv = createAjv();
    this.validatePolicy = ajv.compile(
      graphSchema(
        'conditionalAccessPolicy',
        'https://agent-pdp.dev/schemas/graph/conditionalAccessPolicy.json',
      ),
    );
    this.validateIpLocation = ajv.compile(
      graphSchema('ipNamedLocation', 'https://agent-pdp.dev/schemas/graph/ipNamedLocation.json'),
    );
    this.validateCountryLocation = ajv.compile(
      graphSchema('countryNamedLocation', 'https://agent-pdp.dev/schemas/graph/countryNamedLocation.json'),
    );
    this.validateRoutes = ajv.compile(gatewayRoutesSchema);
  }

  /**
   * Bundle data (`tenants.<t>.conditional_access[]`, `named_locations`, `gateway_routes`) merged
   * with the data directory, which wins per policy id. All problems are collected, then the whole
   * load is rejected so a half-valid set of policies never serves.
   */
  async compile(
    bundleData: Record<string, unknown>,
    dataDir: string | null,
    external: ReadonlyMap<string, ExternalTenantDocs> = new Map(),
  ): Promise<Record<string, TenantData>> {
    const raw = new Map<string, RawTenant>();
    const details: ErrorDetail[] = [];
    collectBundle(bundleData, raw, details);
    collectExternal(external, raw, details);
    if (dataDir !== null) await collectDir(dataDir, raw, details);

    let mcpAjv: ReturnType<typeof createAjv> | undefined;
    // Keyed by tenant names from the data: no prototype, so no name can reach Object.prototype.
    const tenants = Object.create(null) as Record<string, TenantData>;
    for (const [tenant, t] of [...raw.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const locations =
        t.externalLocations === null
          ? new Map<string, LoadedLocation>()
          : this.compileLocations(t.externalLocations, details);
      if (t.namedLocations !== null) {
        for (const [id, l] of this.compileLocations(t.namedLocations, details)) locations.set(id, l);
      }
      const policies: CompiledPolicy[] = [];
      for (const [id, source] of [...t.policies.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        const compiled = this.compilePolicy(id, source, details);
        if (compiled === null) continue;
        policies.push(compiled);
        checkLocationRefs(compiled, source, locations, details);
      }
      const data: TenantData = {
        policies,
        named_locations: [...locations.values()].map((l) => l.location),
        ca_index: compileCaIndex(policies),
      };
      tenants[tenant] = data;
      if (t.gatewayRoutes !== null) {
        if (this.validateRoutes(t.gatewayRoutes.doc)) {
          data.gateway_routes = withLiteralPrefixes(t.gatewayRoutes.doc as { routes: object[] });
          const doc = t.gatewayRoutes.doc as { routes: object[] };
          if (doc.routes.some((r) => Object.hasOwn(r, 'mcp'))) {
            // A fresh Ajv per load: argument schemas may reuse an `$id` from the last one.
            mcpAjv ??= createAjv();
            MCP_ROUTES.set(data, compileMcpRoutes(doc, mcpAjv, t.gatewayRoutes.file, details));
          }
          const routes = (t.gatewayRoutes.doc as { routes: { id: string }[] }).routes;
          repeatedIds(routes, '/routes', t.gatewayRoutes.file, 'route', details);
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

  /** Graph document → evaluation model, or null after recording why it cannot be one. */
  private compilePolicy(
    id: string,
    { doc, file, at }: Source,
    details: ErrorDetail[],
  ): CompiledPolicy | null {
    const problem = (pointer: string, message: string, keyword: string): void => {
      details.push({ file, policy_id: id, pointer: at + pointer, message, keyword });
    };
    if (!this.validatePolicy(doc)) {
      for (const d of toDetails(this.validatePolicy.errors))
        problem(d.pointer, d.message, d.keyword ?? 'schema');
      return null;
    }
    if (!ID_PATTERN.test(id)) {
      problem('', `takes its id "${id}" from the file name, which is not a valid policy id`, 'id');
      return null;
    }
    const { policy, problems } = normalisePolicy(doc as Record<string, unknown>, id);
    for (const p of problems) problem(p.pointer, p.message, p.keyword);
    return problems.length > 0 ? null : policy;
  }

  /** A Graph `namedLocations` collection (or a plain array) → the tenant's locations by id. */
  private compileLocations(
    source: { doc: unknown; file: string },
    details: ErrorDetail[],
  ): Map<string, LoadedLocation> {
    const { doc, file } = source;
    const out = new Map<string, LoadedLocation>();
    let items: unknown[];
    let prefix: string;
    if (Array.isArray(doc)) {
      items = doc;
      prefix = '';
    } else if (isPlainObject(doc) && Array.isArray(own(doc, 'value'))) {
      details.push(...collectionProblems(doc, file));
      items = own(doc, 'value') as unknown[];
      prefix = '/value';
    } else {
      details.push({
        file,
        pointer: '',
        message: 'must be array (of named locations) or a Graph collection {"value": [...]}',
        keyword: 'type',
      });
      return out;
    }
    items.forEach((item, i) => {
      const at = `${prefix}/${i}`;
      const type = own(item, '@odata.type');
      const country =
        type === COUNTRY_LOCATION ||
        (type === undefined &&
          (own(item, 'countriesAndRegions') !== undefined || own(item, 'countryLookupMethod') !== undefined));
      if (type !== undefined && type !== IP_LOCATION && type !== COUNTRY_LOCATION) {
        details.push({
          file,
          pointer: `${at}/@odata.type`,
          message: `must be "${IP_LOCATION}" or "${COUNTRY_LOCATION}"`,
          keyword: 'enum',
        });
        return;
      }
      const validate = country ? this.validateCountryLocation : this.validateIpLocation;
      if (!validate(item)) {
        for (const d of toDetails(validate.errors, at)) details.push({ ...d, file });
        return;
      }
      const l = item as Record<string, unknown>;
      const id = l['id'] as string;
      if (RESERVED_LOCATION_IDS.has(id)) {
        details.push({
          file,
          pointer: `${at}/id`,
          message: `"${id}" is reserved by Graph`,
          keyword: 'uniqueId',
        });
        return;
      }
      if (out.has(id)) {
        details.push({
          file,
          pointer: `${at}/id`,
          message: `repeats the location id "${id}"`,
          keyword: 'uniqueId',
        });
        return;
      }
      const location: NamedLocation = { id, displayName: l['displayName'] as string };
      if (country) {
        location.countriesAndRegions = ((l['countriesAndRegions'] as string[] | null) ?? []).map((c) =>
          c.toUpperCase(),
        );
        location.includeUnknownCountriesAndRegions = l['includeUnknownCountriesAndRegions'] === true;
      } else {
        location.isTrusted = l['isTrusted'] === true;
        location.ipRanges = ((l['ipRanges'] as { cidrAddress: string }[] | null) ?? []).map(
          (r) => r.cidrAddress,
        );
      }
      out.set(id, { location, gpsLookup: l['countryLookupMethod'] === 'authenticatorAppGps' });
    });
    return out;
  }
}

/** `o[key]` when it is o's own property: a data object's prototype must never answer for it. */
function own(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null && Object.hasOwn(o, key)
    ? (o as Record<string, unknown>)[key]
    : undefined;
}

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

function policyIdOf(doc: unknown): string | undefined {
  const id = Array.isArray(doc) ? undefined : own(doc, 'id');
  return typeof id === 'string' ? id : undefined;
}

/**
 * Ids must be unique: two named locations with one id would let a client in the untrusted one
 * count as in the trusted one, and a repeated route id would report one route for another.
 */
function repeatedIds(
  items: readonly { id: string }[],
  prefix: string,
  file: string,
  what: string,
  details: ErrorDetail[],
): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id)) {
      details.push({
        file,
        pointer: `${prefix}/${i}/id`,
        message: `repeats the ${what} id "${item.id}"`,
        keyword: 'uniqueId',
      });
    }
    seen.add(item.id);
  });
}

function describe(d: ErrorDetail): string {
  return [d.file, d.policy_id, `${d.pointer === '' ? '/' : d.pointer} ${d.message}`]
    .filter(Boolean)
    .join(' ');
}

/**
 * A location id that names no location would never match: reject it instead of guessing. A
 * country location looked up by Authenticator GPS cannot be evaluated from a request: an enforced
 * policy may not name it, a report-only or disabled one keeps it in `compiled.unsupported`.
 */
function checkLocationRefs(
  p: CompiledPolicy,
  { doc, file, at }: Source,
  locations: ReadonlyMap<string, LoadedLocation>,
  details: ErrorDetail[],
): void {
  const named = own(own(doc, 'conditions'), 'locations');
  for (const field of ['includeLocations', 'excludeLocations']) {
    const ids = own(named, field);
    (Array.isArray(ids) ? (ids as unknown[]) : []).forEach((id, i) => {
      if (typeof id !== 'string' || RESERVED_LOCATION_IDS.has(id)) return;
      const pointer = `${at}/conditions/locations/${field}/${i}`;
      const location = locations.get(id);
      if (location === undefined) {
        details.push({
          file,
          policy_id: p.id,
          pointer,
          message: `names unknown location "${id}"`,
          keyword: 'namedLocation',
        });
      } else if (location.gpsLookup && p.state !== 'enabled') {
        // Report-only or disabled: reported as reportOnlyNotApplied (unsupportedCondition).
        p.compiled.unsupported.push(pointer.slice(at.length));
      } else if (location.gpsLookup) {
        details.push({
          file,
          policy_id: p.id,
          pointer,
          message: `names location "${id}", whose country is looked up by Authenticator GPS: the PDP cannot evaluate it`,
          keyword: 'unsupportedCondition',
        });
      }
    });
  }
}

function tenantOf(raw: Map<string, RawTenant>, tenant: string): RawTenant {
  let t = raw.get(tenant);
  if (t === undefined) {
    t = {
      policies: new Map(),
      externalLocations: null,
      dirPolicyIds: new Map(),
      namedLocations: null,
      gatewayRoutes: null,
    };
    raw.set(tenant, t);
  }
  return t;
}

/** What a tenant of the bundle's `data.tenants` may hold; the engine replaces the rest of it. */
const BUNDLE_TENANT_KEYS: ReadonlySet<string> = new Set([
  'conditional_access',
  'named_locations',
  'gateway_routes',
]);

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * `data.tenants` of the bundle. Everything that cannot be read the one way it is meant is a
 * problem, not skipped: a `conditional_access` that is not a list, or a misspelt key, would
 * otherwise drop policies without a word.
 */
function collectBundle(
  data: Record<string, unknown>,
  raw: Map<string, RawTenant>,
  details: ErrorDetail[],
): void {
  const tenants = own(data, 'tenants');
  if (tenants === undefined) return;
  if (!isPlainObject(tenants)) {
    details.push({ file: 'bundle:data.json', pointer: '/tenants', message: 'must be an object' });
    return;
  }
  for (const [tenant, value] of Object.entries(tenants)) {
    // Problems with the tenant itself are located from data.json's root; a document's, within it.
    const file = `bundle:data.json#/tenants/${escapePointer(tenant)}`;
    const at = `/tenants/${escapePointer(tenant)}`;
    const problem = (pointer: string, message: string): void => {
      details.push({ file: 'bundle:data.json', pointer, message });
    };
    if (!TENANT_PATTERN.test(tenant)) {
      problem(at, 'is not a valid tenant name');
      continue;
    }
    if (!isPlainObject(value)) {
      problem(at, 'must be an object');
      continue;
    }
    for (const key of Object.keys(value)) {
      if (!BUNDLE_TENANT_KEYS.has(key)) problem(`${at}/${escapePointer(key)}`, 'is not allowed');
    }
    const t = tenantOf(raw, tenant);
    const docs = own(value, 'conditional_access');
    if (docs !== undefined && !Array.isArray(docs)) {
      problem(`${at}/conditional_access`, 'must be an array');
    } else if (docs !== undefined) {
      (docs as unknown[]).forEach((doc, i) => {
        const id = policyIdOf(doc);
        const where = `${file}/conditional_access/${i}`;
        if (!isPlainObject(doc)) {
          details.push({ file: where, pointer: '', message: 'must be object', keyword: 'type' });
          return;
        }
        if (id === undefined) {
          details.push({
            file: where,
            pointer: '/id',
            message: 'is required (a bundle document has no file name)',
            keyword: 'required',
          });
          return;
        }
        if (t.policies.has(id)) {
          details.push({
            file: where,
            pointer: '/id',
            policy_id: id,
            message: 'repeats a policy id',
            keyword: 'uniqueId',
          });
          return;
        }
        t.policies.set(id, { doc, file: where, at: '' });
      });
    }
    if (own(value, 'named_locations') !== undefined) {
      t.namedLocations = { doc: own(value, 'named_locations'), file };
    }
    if (own(value, 'gateway_routes') !== undefined) {
      t.gatewayRoutes = { doc: own(value, 'gateway_routes'), file };
    }
  }
}

/**
 * Documents from an external source (the Graph sync), located as `<source>/policies` and
 * `<source>/namedLocations` with the item's `/value/<i>` pointer, like a Graph collection file.
 */
function collectExternal(
  external: ReadonlyMap<string, ExternalTenantDocs>,
  raw: Map<string, RawTenant>,
  details: ErrorDetail[],
): void {
  for (const [tenant, docs] of [...external.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (!TENANT_PATTERN.test(tenant)) {
      details.push({ file: docs.source, pointer: '', message: 'is not a valid tenant name' });
      continue;
    }
    const t = tenantOf(raw, tenant);
    const file = `${docs.source}/policies`;
    const seen = new Set<string>();
    docs.policies.forEach((doc, i) => {
      const id = policyIdOf(doc);
      if (!isPlainObject(doc) || id === undefined) {
        details.push({ file, pointer: `/value/${i}/id`, message: 'is required', keyword: 'required' });
        return;
      }
      if (seen.has(id)) {
        details.push({
          file,
          policy_id: id,
          pointer: `/value/${i}/id`,
          message: 'repeats a policy id',
          keyword: 'uniqueId',
        });
        return;
      }
      seen.add(id);
      t.policies.set(id, { doc, file, at: `/value/${i}` });
    });
    t.externalLocations = {
      doc: { value: [...docs.named_locations] },
      file: `${docs.source}/namedLocations`,
    };
  }
}

/** A file of the data directory: at most this large (named locations with thousands of ranges fit). */
export const MAX_DATA_FILE_BYTES = 16 * 1024 * 1024;

const isInside = (root: string, p: string): boolean =>
  p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/**
 * Reads one file of the data directory. Links are followed only where they stay inside the data
 * directory (Kubernetes ConfigMap volumes are links into their own `..data`): a link elsewhere
 * would let whoever can write the data directory make the service read, and report on, any file.
 */
async function readJson(
  file: string,
  root: string,
  details: ErrorDetail[],
): Promise<{ ok: true; doc: unknown } | { ok: false }> {
  const problem = (message: string, pointer = '', keyword = 'json'): { ok: false } => {
    details.push({ file, pointer, message, keyword });
    return { ok: false };
  };
  let bytes: Buffer;
  try {
    const real = await realpath(file);
    if (!isInside(root, real)) return problem('links outside the data directory', '', 'file');
    const info = await stat(real);
    if (!info.isFile()) return problem('is not a regular file', '', 'file');
    if (info.size > MAX_DATA_FILE_BYTES) {
      return problem(`is larger than ${MAX_DATA_FILE_BYTES} bytes`, '', 'file');
    }
    bytes = await readFile(real);
  } catch (err) {
    return problem(`is not readable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return {
      ok: true,
      doc: parseJsonBytes(bytes, { maxBytes: MAX_DATA_FILE_BYTES, maxDepth: MAX_JSON_DEPTH }),
    };
  } catch (err) {
    if (err instanceof JsonDocumentError) return problem(err.message, err.pointer);
    throw err;
  }
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/**
 * Whether `p` is a directory really inside the data directory (see readJson). A broken link or a
 * link elsewhere is a problem: the documents it was meant to hold must not vanish without a word.
 */
async function isDirInside(p: string, root: string, details: ErrorDetail[]): Promise<boolean> {
  if ((await lstat(p).catch(() => null)) === null) return false;
  const info = await stat(p).catch(() => null);
  if (info === null) {
    details.push({ file: p, pointer: '', message: 'is a broken link', keyword: 'file' });
    return false;
  }
  if (!info.isDirectory()) return false;
  const real = await realpath(p).catch(() => null);
  if (real !== null && isInside(root, real)) return true;
  details.push({ file: p, pointer: '', message: 'links outside the data directory', keyword: 'file' });
  return false;
}

/**
 * What is wrong with a Graph collection `{"@odata.context"?, "value": [...]}` besides its items:
 * members other than annotations, and `@odata.nextLink`, which says the file is one page of a
 * longer list (the rest of the policies would be missing without a word).
 */
function collectionProblems(doc: Record<string, unknown>, file: string): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  for (const key of Object.keys(doc)) {
    if (key === '@odata.nextLink') {
      problems.push({
        file,
        pointer: '/@odata.nextLink',
        message: 'marks one page of a longer list: export every page (follow @odata.nextLink) into the file',
        keyword: 'nextLink',
      });
    } else if (key !== 'value' && !key.startsWith('@odata.')) {
      problems.push({
        file,
        pointer: `/${escapePointer(key)}`,
        message: 'is not allowed in a collection',
        keyword: 'additionalProperties',
      });
    }
  }
  return problems;
}

/**
 * The policies of one file: one `conditionalAccessPolicy` (id: its own, else the file name) or a
 * Graph collection `{"@odata.context"?, "value": [...]}` (each with its own id).
 */
function policiesOf(
  doc: unknown,
  fileId: string,
  file: string,
  details: ErrorDetail[],
): { id: string; at: string; doc: unknown }[] {
  if (isPlainObject(doc) && Object.hasOwn(doc, 'value')) {
    const value = own(doc, 'value');
    const problems = collectionProblems(doc, file);
    if (!Array.isArray(value)) {
      problems.push({ file, pointer: '/value', message: 'must be an array of policies', keyword: 'type' });
    }
    details.push(...problems);
    if (problems.length > 0 || !Array.isArray(value)) return [];
    const out: { id: string; at: string; doc: unknown }[] = [];
    value.forEach((item: unknown, i) => {
      const id = policyIdOf(item);
      if (id === undefined) {
        details.push({
          file,
          pointer: `/value/${i}/id`,
          message: 'is required in a collection',
          keyword: 'required',
        });
      } else {
        out.push({ id, at: `/value/${i}`, doc: item });
      }
    });
    return out;
  }
  return [{ id: policyIdOf(doc) ?? fileId, at: '', doc }];
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
  const root = await realpath(dataDir);
  for (const tenant of (await readdir(dataDir)).sort()) {
    const tenantDir = path.join(dataDir, tenant);
    if (tenant.startsWith('.') || !(await isDirInside(tenantDir, root, details))) continue;
    if (!TENANT_PATTERN.test(tenant)) {
      details.push({ file: tenantDir, pointer: '', message: 'directory name is not a valid tenant name' });
      continue;
    }
    const t = tenantOf(raw, tenant);
    const caDir = path.join(tenantDir, 'conditional-access');
    if (await isDirInside(caDir, root, details)) {
      // Hidden files are an editor's (Emacs' `.#x.json` lock links) or a writer's staging copy: no
      // policy id starts with a dot, so none of them can be a document.
      const files = (await readdir(caDir)).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort();
      for (const f of files) {
        const file = path.join(caDir, f);
        const read = await readJson(file, root, details);
        if (!read.ok) continue;
        for (const { id, at, doc } of policiesOf(read.doc, f.slice(0, -'.json'.length), file, details)) {
          const other = t.dirPolicyIds.get(id);
          if (other !== undefined) {
            details.push({
              file,
              policy_id: id,
              pointer: `${at}/id`,
              message: `repeats the policy id of ${other}`,
              keyword: 'uniqueId',
            });
            continue;
          }
          t.dirPolicyIds.set(id, file);
          t.policies.set(id, { doc, file, at });
        }
      }
    }
    for (const [name, field] of [
      ['named-locations.json', 'namedLocations'],
      ['gateway-routes.json', 'gatewayRoutes'],
    ] as const) {
      const file = path.join(tenantDir, name);
      // lstat: a broken link is reported by readJson, not taken for an absent file.
      if ((await lstat(file).catch(() => null)) === null) continue;
      const read = await readJson(file, root, details);
      if (read.ok) t[field] = { doc: read.doc, file };
    }
  }
}

/**
 * Short content hash: identical data gives the identical revision on every replica. The bundle's
 * own data counts too: a bundle's revision names its policies, and data.json can change under it.
 */
export function dataRevision(
  tenants: Record<string, TenantData>,
  bundleData: Record<string, unknown> = {},
): string {
  return packTenants(tenants, bundleData).dataRevision;
}

/** What responses and listings show of a policy: its static fields, nothing of the evaluation model. */
export interface PolicySummary {
  readonly id: string;
  readonly displayName: string;
  readonly state: CompiledPolicy['state'];
  readonly controls: readonly string[];
}

/** What the process keeps of a tenant in JS; the evaluation data lives in `PackedTenants.json`. */
export interface TenantSummary {
  readonly policies: readonly PolicySummary[];
  readonly named_locations: readonly { id: string; displayName: string; trusted: boolean }[];
  /** The number of gateway routes. */
  readonly gateway_routes: number;
  /** The gateway routes with an `mcp` section, compiled (src/mcp/route-index.ts); not listed on the API. */
  readonly mcpRoutes: readonly McpRoute[];
}

/** Compiled tenants in the form a revision keeps them. */
export interface PackedTenants {
  /**
   * `data.tenants[t]` serialised, as the policy reads it, and deflated (raw deflate): about a sixth
   * of the text. Only a tenant not resident in the WASM heap is inflated, as it is parsed into it.
   */
  json: ReadonlyMap<string, Uint8Array>;
  /** Keyed by tenant name, without a prototype. */
  summaries: Readonly<Record<string, TenantSummary>>;
  /** A hash of the bundle data and every tenant's data (12 hex digits). */
  dataRevision: string;
}

/**
 * Serialises each tenant once: the deflated bytes go to the WASM engine, a few static fields stay in JS,
 * and the revision hash is taken over the same bytes (equal to hashing the whole `tenants` object).
 */
export function packTenants(
  tenants: Readonly<Record<string, TenantData>>,
  bundleData: Record<string, unknown> = {},
): PackedTenants {
  const hash = createHash('sha256').update(JSON.stringify(bundleData)).update('\n{');
  const json = new Map<string, Uint8Array>();
  const summaries = Object.create(null) as Record<string, TenantSummary>;
  // Object.keys order is JSON.stringify's order, so the hash equals that of the whole object.
  for (const [i, name] of Object.keys(tenants).entries()) {
    const data = tenants[name] as TenantData;
    const text = JSON.stringify(data);
    hash.update(`${i > 0 ? ',' : ''}${JSON.stringify(name)}:`).update(text);
    // Level 1: within a few percent of the best ratio on this JSON, at a third of the time.
    // Copied: zlib's result is a view of a larger chunk, which it would keep alive.
    json.set(name, Buffer.from(deflateRawSync(text, { level: 1 })));
    summaries[name] = summarise(data);
  }
  return { json, summaries, dataRevision: hash.update('}').digest('hex').slice(0, 12) };
}

function summarise(data: TenantData): TenantSummary {
  const routes = (data.gateway_routes as { routes?: unknown[] } | undefined)?.routes;
  return Object.freeze({
    policies: data.policies.map((p) =>
      Object.freeze({ id: p.id, displayName: p.displayName, state: p.state, controls: [...p.controls] }),
    ),
    named_locations: data.named_locations.map((l) =>
      Object.freeze({ id: l.id, displayName: l.displayName, trusted: l.isTrusted ?? false }),
    ),
    gateway_routes: routes?.length ?? 0,
    mcpRoutes: MCP_ROUTES.get(data) ?? NO_MCP_ROUTES,
  });
}

/** A policy kept with conditions the PDP cannot evaluate (only report-only or disabled ones load). */
export interface UnsupportedNotice {
  tenant: string;
  policy_id: string;
  state: CompiledPolicy['state'];
  unsupported: string[];
}

/** Every loaded policy whose `compiled.unsupported` is not empty, by tenant then id, for a warning. */
export function unsupportedNotices(tenants: Readonly<Record<string, TenantData>>): UnsupportedNotice[] {
  const out: UnsupportedNotice[] = [];
  for (const [tenant, data] of Object.entries(tenants).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const p of data.policies) {
      if (p.compiled.unsupported.length === 0) continue;
      out.push({ tenant, policy_id: p.id, state: p.state, unsupported: [...p.compiled.unsupported] });
    }
  }
  return out;
}
