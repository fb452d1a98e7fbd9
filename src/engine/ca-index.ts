/** The Conditional Access index: a tenant's policies restructured once per load for the Rego (policies/agent/ca.rego). */
import type { CompiledPolicy } from './tenant-data';
import type { FilterAtom } from './filter-rule';

const own = (o: unknown, key: string): unknown =>
  typeof o === 'object' && o !== null && Object.hasOwn(o, key)
    ? (o as Record<string, unknown>)[key]
    : undefined;
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/** The What-If order of the conditions; a condition's rank is its place here, from 1. */
export const CONDITION_NAMES = [
  'agentIdentities',
  'users',
  'application',
  'flows',
  'agentIdRisk',
  'userRisk',
  'signInRisk',
  'location',
  'devicePlatform',
] as const;
export type ConditionName = (typeof CONDITION_NAMES)[number];

/** value → {policy id: true}: the policies a request with that value matches the condition of. */
export type Matches = Record<string, Record<string, true>>;
/** value → {policy id: rank}: the policies a request with that value fails the condition (of that rank) of. */
export type Exclusions = Record<string, Record<string, number>>;

export interface ConditionIndex {
  match?: Matches;
  exclude?: Exclusions;
}

/**
 * The agent filters as distinct atoms and clauses (DNF; atoms are numbered in first-occurrence
 * order). `-eq` and `-in` atoms hold exactly when the attribute equals one of their strings, so
 * they are found by lookup (attribute → value → atom numbers); the others are evaluated
 * (`evaluate`: [number, atom]). Per clause, the policies whose include-mode filter it belongs to
 * (`match`) or whose exclude-mode filter (`exclude`).
 */
export interface FilterIndex {
  lookup?: Record<string, Record<string, number[]>>;
  evaluate?: [number, FilterAtom][];
  clauses: number[][];
  match?: Record<string, true>[];
  exclude?: Record<string, number>[];
}

/**
 * Everything about a tenant's policies that does not depend on the request, as lookups for the Rego
 * (policies/README.md, "Data"; policies/agent/ca.rego). `unmatched[i]`: the ranks of the conditions
 * policy i fails when none of its lists names the request's values (only "All" counts then);
 * per condition, `match` rescues a policy from that and `exclude` makes it fail whatever else
 * holds. Entries that cannot change an outcome are left out, and so is anything empty: WASM memory
 * is about ten times the JSON, and tenants can number 10,000.
 * policies/agent/compile_test.rego builds the same from raw documents for the Rego tests.
 */
export interface CaIndex {
  ids: string[];
  modes: ('enforced' | 'reportOnly' | 'disabled')[];
  unmatched: number[][];
  agentIdentities?: ConditionIndex & { match_blueprint?: Matches; filters?: FilterIndex };
  users?: ConditionIndex & { without_user?: Record<string, number> };
  application?: ConditionIndex;
  flows?: ConditionIndex;
  agentIdRisk?: ConditionIndex;
  userRisk?: ConditionIndex;
  signInRisk?: ConditionIndex;
  location?: ConditionIndex;
  devicePlatform?: ConditionIndex;
}

type Conditions = Partial<{
  clientApplications: Record<string, unknown>;
  users: Record<string, unknown>;
  applications: Record<string, unknown>;
  locations: Record<string, unknown>;
  platforms: Record<string, unknown>;
  flows: unknown[];
  agentIdRiskLevels: unknown[];
  userRiskLevels: unknown[];
  signInRiskLevels: unknown[];
}>;

const strings = (xs: unknown): string[] =>
  Array.isArray(xs) ? xs.filter((x): x is string => typeof x === 'string') : [];

/** Graph spells it "All" (platforms "all"): any case counts, as util.has_all in Rego. */
const isAll = (x: string): boolean => x.toLowerCase() === 'all';
const hasAll = (xs: unknown): boolean => strings(xs).some(isAll);

const isObject = isPlainObject;

/** value → policy id → flag or rank. Maps while building: values and ids come from the documents. */
type Lists<T> = Map<string, Map<string, T>>;

function put<T>(map: Lists<T>, value: string, id: string, v: T): void {
  let ids = map.get(value);
  if (ids === undefined) map.set(value, (ids = new Map<string, T>()));
  ids.set(id, v);
}

/**
 * A Map as a JSON object for the WASM data. No prototype: every key, "__proto__" included, is an
 * own property, which JSON.stringify writes and Rego then matches exactly.
 */
export function jsonObject<T>(map: ReadonlyMap<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of map) out[key] = value;
  return out;
}

function nested<T>(map: Lists<T>): Record<string, Record<string, T>> {
  const out = Object.create(null) as Record<string, Record<string, T>>;
  for (const [key, value] of map) out[key] = jsonObject(value);
  return out;
}

const rank = (name: ConditionName): number => CONDITION_NAMES.indexOf(name) + 1;

/** Drops empty maps and lists, then the whole object when nothing is left. */
function compact<T extends object>(o: T): T | undefined {
  const out = Object.fromEntries(
    Object.entries(o).filter(([, v]) =>
      Array.isArray(v) ? v.length > 0 : Object.keys(v as object).length > 0,
    ),
  );
  return Object.keys(out).length > 0 ? (out as T) : undefined;
}

/**
 * Compiles a tenant's validated policies (data order) into the index the Rego evaluates. Pure
 * restructuring of the documents (which lists name which values, what "All" does); combining them
 * with a request stays in Rego.
 */
export function compileCaIndex(policies: readonly CompiledPolicy[]): CaIndex {
  const maps = Object.fromEntries(
    CONDITION_NAMES.map((name): [ConditionName, { match: Lists<true>; exclude: Lists<number> }] => [
      name,
      { match: new Map(), exclude: new Map() },
    ]),
  ) as Record<ConditionName, { match: Lists<true>; exclude: Lists<number> }>;
  const matchBlueprint: Lists<true> = new Map();
  const withoutUser = new Map<string, number>();
  const lookup: Lists<number[]> = new Map();
  const evaluate: [number, FilterAtom][] = [];
  const clauses: number[][] = [];
  const clauseMatch: Map<string, true>[] = [];
  const clauseExclude: Map<string, number>[] = [];
  const atomIds = new Map<string, number>();
  const clauseIds = new Map<string, number>();
  const unmatched: number[][] = [];

  policies.forEach((p) => {
    const id = p.id;
    const conds = (isObject(own(p, 'conditions')) ? own(p, 'conditions') : {}) as Conditions;
    const ranks: number[] = [];

    /**
     * An include/exclude condition. Unless the include list holds "All" (and the exclude list
     * does not), the policy fails it by default and a named included value rescues it; a named
     * excluded value fails it. Excluding "All" fails it whatever the request: nothing to look up.
     */
    const lists = (
      name: ConditionName,
      o: unknown,
      inc: string,
      exc: string,
      key = (x: string) => x,
    ): boolean => {
      if (!isObject(o)) return false;
      const excludesAll = hasAll(own(o, exc));
      if (excludesAll || !hasAll(own(o, inc))) ranks.push(rank(name));
      if (!excludesAll) {
        if (!hasAll(own(o, inc)))
          for (const v of strings(own(o, inc))) put(maps[name].match, key(v), id, true);
        for (const v of strings(own(o, exc))) if (!isAll(v)) put(maps[name].exclude, key(v), id, rank(name));
      }
      return !excludesAll && !hasAll(own(o, inc));
    };
    /** A list of values: set when non-empty; a listed value matches it. */
    const values = (name: ConditionName, xs: unknown, key = (x: string) => x): void => {
      if (!Array.isArray(xs) || xs.length === 0) return;
      ranks.push(rank(name));
      for (const v of strings(xs)) put(maps[name].match, key(v), id, true);
    };
    const lower = (x: string) => x.toLowerCase();

    const apps = conds.clientApplications;
    const rescuable = lists(
      'agentIdentities',
      apps,
      'includeAgentIdServicePrincipals',
      'excludeAgentIdServicePrincipals',
    );
    if (isObject(apps) && !hasAll(own(apps, 'excludeAgentIdServicePrincipals'))) {
      if (rescuable)
        for (const v of strings(own(apps, 'includeAgentIdBlueprints'))) put(matchBlueprint, v, id, true);
      const f = p.compiled.agent_filter;
      if (f !== null && ((f.mode === 'include' && rescuable) || f.mode === 'exclude')) {
        for (const clause of f.dnf) {
          if (!Array.isArray(clause)) continue;
          const atoms = [
            ...new Set(
              clause.map((atom) => {
                const k = JSON.stringify([atom.attr, atom.op, atom.value]);
                let j = atomIds.get(k);
                if (j === undefined) {
                  j = atomIds.size;
                  atomIds.set(k, j);
                  const equals: unknown[] | null =
                    atom.op === 'eq'
                      ? [atom.value]
                      : atom.op === 'in' && Array.isArray(atom.value)
                        ? [...new Set(atom.value)]
                        : null;
                  if (equals?.every((v): v is string => typeof v === 'string')) {
                    for (const v of equals) {
                      let byValue = lookup.get(atom.attr);
                      if (byValue === undefined)
                        lookup.set(atom.attr, (byValue = new Map<string, number[]>()));
                      byValue.set(v, [...(byValue.get(v) ?? []), j]);
                    }
                  } else {
                    evaluate.push([j, { attr: atom.attr, op: atom.op, value: atom.value }]);
                  }
                }
                return j;
              }),
            ),
          ].sort((a, b) => a - b);
          const ck = atoms.join(',');
          let k = clauseIds.get(ck);
          if (k === undefined) {
            k = clauses.length;
            clauseIds.set(ck, k);
            clauses.push(atoms);
            clauseMatch.push(new Map());
            clauseExclude.push(new Map());
          }
          if (f.mode === 'include') clauseMatch[k]?.set(id, true);
          else clauseExclude[k]?.set(id, rank('agentIdentities'));
        }
      }
    }
    // A request without a user fails every users condition.
    if (isObject(conds.users)) withoutUser.set(id, rank('users'));
    lists('users', conds.users, 'includeUsers', 'excludeUsers');
    lists('application', conds.applications, 'includeApplications', 'excludeApplications');
    values('flows', conds.flows);
    values('agentIdRisk', conds.agentIdRiskLevels, lower);
    values('userRisk', conds.userRiskLevels, lower);
    values('signInRisk', conds.signInRiskLevels, lower);
    lists('location', conds.locations, 'includeLocations', 'excludeLocations');
    lists('devicePlatform', conds.platforms, 'includePlatforms', 'excludePlatforms', lower);
    unmatched.push(ranks.sort((a, b) => a - b));
  });

  const someOf = <T>(per: Map<string, T>[]): Record<string, T>[] =>
    per.some((m) => m.size > 0) ? per.map(jsonObject) : [];
  const filterIndex = (): FilterIndex | Record<string, never> =>
    clauses.length === 0
      ? {}
      : (compact({
          lookup: nested(lookup),
          evaluate,
          clauses,
          match: someOf(clauseMatch),
          exclude: someOf(clauseExclude),
        }) as FilterIndex);

  const index: CaIndex = {
    ids: policies.map((p) => p.id),
    modes: policies.map((p) =>
      p.state === 'disabled'
        ? 'disabled'
        : p.state === 'enabledForReportingButNotEnforced'
          ? 'reportOnly'
          : 'enforced',
    ),
    unmatched,
  };
  for (const name of CONDITION_NAMES) {
    const extra =
      name === 'agentIdentities'
        ? { match_blueprint: nested(matchBlueprint), filters: filterIndex() }
        : name === 'users'
          ? { without_user: jsonObject(withoutUser) }
          : {};
    const c = compact({ match: nested(maps[name].match), exclude: nested(maps[name].exclude), ...extra });
    if (c !== undefined) index[name] = c as CaIndex[typeof name] & object;
  }
  return index;
}
