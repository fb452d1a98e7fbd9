import type { Ajv, ValidateFunction } from 'ajv';
import type { ErrorDetail } from '../errors';
import { literalPrefix } from '../engine/route-prefix';

/**
 * The MCP sections of a tenant's gateway routes, compiled once per load: each tool's and prompt's
 * argument schema an Ajv validator, each resource glob a matcher. /v1/authorize judges a body
 * against the routes here (check.ts); the policy picks the route and reads the verdict by its id.
 */

export interface McpGrant {
  scopes: readonly string[];
  /** null: any arguments object. */
  validate: ValidateFunction | null;
}

export interface McpResourceGrant {
  glob: string;
  matches: (uri: string) => boolean;
  scopes: readonly string[];
}

export interface McpRoute {
  id: string;
  /** null: any method. */
  methods: ReadonlySet<string> | null;
  /** The route's path glob. */
  path: string;
  /** Every path the route's glob matches starts with this (route-prefix.ts). */
  literalPrefix: string;
  resource: string;
  /** The route's scopes (any one suffices), as in the policy. */
  routeScopes: readonly string[];
  resourceMetadata: string | null;
  tools: ReadonlyMap<string, McpGrant>;
  prompts: ReadonlyMap<string, McpGrant>;
  resources: readonly McpResourceGrant[];
}

/** A schema is configuration, but still bounded: its JSON text and its nesting. */
export const MAX_ARGUMENT_SCHEMA_BYTES = 65536;
export const MAX_ARGUMENT_SCHEMA_DEPTH = 32;

interface RawGrant {
  scopes: string[];
  arguments?: Record<string, unknown>;
}

interface RawRoute {
  id: string;
  methods?: string[];
  path: string;
  resource?: string;
  scopes?: string[];
  mcp?: {
    tools?: Record<string, RawGrant>;
    resources?: Record<string, RawGrant>;
    prompts?: Record<string, RawGrant>;
    resource_metadata?: string;
  };
}

function depthOf(value: unknown, limit: number, level = 1): number {
  if (typeof value !== 'object' || value === null) return level - 1;
  if (level > limit) return level;
  let deepest = level;
  for (const v of Object.values(value)) deepest = Math.max(deepest, depthOf(v, limit, level + 1));
  return deepest;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

const ONE_SEGMENT = -1;
const ANY_DEPTH = -2;
const SLASH = 0x2f;

/**
 * A URI glob as a matcher: `*` any run within one `/`-separated segment, `**` any run at all, every
 * other character literal. Matched by a set of positions over the pattern (O(URI × pattern)), not
 * a backtracking RegExp: a pattern with several stars cannot be made to take exponential time by
 * the URI a client sends.
 */
export function resourceGlob(glob: string): (uri: string) => boolean {
  const tokens: number[] = [];
  for (let i = 0; i < glob.length; i++) {
    if (glob.charCodeAt(i) !== 0x2a) tokens.push(glob.charCodeAt(i));
    else if (glob.charCodeAt(i + 1) === 0x2a) {
      tokens.push(ANY_DEPTH);
      i++;
    } else tokens.push(ONE_SEGMENT);
  }
  const m = tokens.length;
  // A star may match nothing: reaching it reaches the position after it too.
  const close = (at: Uint8Array): void => {
    for (let j = 0; j < m; j++) if (at[j] === 1 && (tokens[j] ?? 0) < 0) at[j + 1] = 1;
  };
  return (uri) => {
    let cur = new Uint8Array(m + 1);
    let next = new Uint8Array(m + 1);
    cur[0] = 1;
    close(cur);
    for (let i = 0; i < uri.length; i++) {
      const c = uri.charCodeAt(i);
      next.fill(0);
      let alive = false;
      for (let j = 0; j < m; j++) {
        if (cur[j] !== 1) continue;
        const t = tokens[j] as number;
        if (t === ANY_DEPTH || (t === ONE_SEGMENT && c !== SLASH)) next[j] = 1;
        else if (t === c) next[j + 1] = 1;
        else continue;
        alive = true;
      }
      if (!alive) return false;
      close(next);
      [cur, next] = [next, cur];
    }
    return cur[m] === 1;
  };
}

function compileGrants(
  ajv: Ajv,
  grants: Record<string, RawGrant> | undefined,
  at: string,
  details: ErrorDetail[],
): Map<string, McpGrant> {
  const out = new Map<string, McpGrant>();
  for (const [name, grant] of Object.entries(grants ?? {})) {
    const pointer = `${at}/${escapePointer(name)}/arguments`;
    let validate: ValidateFunction | null = null;
    if (grant.arguments !== undefined) {
      const size = JSON.stringify(grant.arguments).length;
      if (size > MAX_ARGUMENT_SCHEMA_BYTES) {
        details.push({ pointer, message: `is larger than ${MAX_ARGUMENT_SCHEMA_BYTES} bytes` });
        continue;
      }
      if (depthOf(grant.arguments, MAX_ARGUMENT_SCHEMA_DEPTH) > MAX_ARGUMENT_SCHEMA_DEPTH) {
        details.push({ pointer, message: `nests deeper than ${MAX_ARGUMENT_SCHEMA_DEPTH} levels` });
        continue;
      }
      try {
        validate = ajv.compile(grant.arguments);
      } catch (err) {
        details.push({ pointer, message: `is not a valid JSON Schema: ${(err as Error).message}` });
        continue;
      }
    }
    out.set(name, { scopes: Object.freeze([...grant.scopes]), validate });
  }
  return out;
}

/**
 * The MCP routes of one validated gateway-routes document, in route order. `ajv`: one instance per
 * load (schemas may reuse `$id`s across loads). Problems go to `details`, pointed within `file`.
 */
export function compileMcpRoutes(
  doc: { routes: object[] },
  ajv: Ajv,
  file: string,
  details: ErrorDetail[],
): McpRoute[] {
  const out: McpRoute[] = [];
  for (const [i, r] of (doc.routes as RawRoute[]).entries()) {
    const mcp = r.mcp;
    if (mcp === undefined) continue;
    const problems: ErrorDetail[] = [];
    const base = `/routes/${i}/mcp`;
    const tools = compileGrants(ajv, mcp.tools, `${base}/tools`, problems);
    const prompts = compileGrants(ajv, mcp.prompts, `${base}/prompts`, problems);
    for (const p of problems) details.push({ ...p, file });
    out.push(
      Object.freeze({
        id: r.id,
        methods: r.methods === undefined ? null : new Set(r.methods),
        path: r.path,
        literalPrefix: literalPrefix(r.path),
        resource: r.resource ?? '',
        routeScopes: Object.freeze([...(r.scopes ?? [])]),
        resourceMetadata: mcp.resource_metadata ?? null,
        tools,
        prompts,
        resources: Object.entries(mcp.resources ?? {}).map(([glob, g]) =>
          Object.freeze({ glob, matches: resourceGlob(glob), scopes: Object.freeze([...g.scopes]) }),
        ),
      }),
    );
  }
  return out;
}

/**
 * The MCP routes that may be the one the policy picks for this request: the method allowed and the
 * path under the glob's literal prefix (necessary for a match, so the policy's route is among them
 * whenever it is an MCP route). The policy reads only the verdict of the route it picked.
 */
export function mcpCandidates(routes: readonly McpRoute[], method: string, path: string): McpRoute[] {
  const out: McpRoute[] = [];
  for (const r of routes) {
    if (r.methods !== null && !r.methods.has(method)) continue;
    if (path.startsWith(r.literalPrefix)) out.push(r);
  }
  return out;
}

/** The MCP route whose metadata a well-known URL names: a literal path equal, a glob by its prefix. */
export function mcpRouteAt(routes: readonly McpRoute[], path: string): McpRoute | undefined {
  return routes.find((r) =>
    r.path === r.literalPrefix ? r.path === path : path.startsWith(r.literalPrefix),
  );
}
