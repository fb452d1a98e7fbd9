/**
 * The Conditional Access index: a tenant's policies (the evaluation model of ca-model.ts)
 * restructured once per load into lookups for the Rego (policies/agent/ca.rego; policies/README.md,
 * "Data"). policies/agent/compile_test.rego builds the same from the same model for the Rego tests
 * (test/unit/engine/ca-index.test.ts keeps the two equal).
 */
import {
  ALL_AGENT_ID_RESOURCES,
  ALL_AGENT_ID_USERS,
  FLOWS,
  GUESTS_OR_EXTERNAL_USERS,
  type CompiledFilter,
  type CompiledPolicy,
  type FilterAtom,
  type Flow,
} from './ca-model';
import { rank } from './ca-outcomes';

/** value → {policy id: true}: the policies a request with that value matches the condition of. */
export type Matches = Record<string, Record<string, true>>;
/** value → {policy id: rank}: the policies a request with that value fails the condition (of that rank) of. */
export type Exclusions = Record<string, Record<string, number>>;

export interface ConditionIndex {
  match?: Matches;
  exclude?: Exclusions;
}

/**
 * A kind of filter (agent, application, device) as distinct atoms and clauses (DNF; atoms and
 * clauses numbered in first-occurrence order). Per clause, the policies whose include-mode filter
 * it belongs to (`match`) or whose exclude-mode filter (`exclude`, with the condition's rank).
 */
export interface FilterIndex {
  /**
   * The token subjects for which a policy with such a filter is not kept out by the gate: the
   * filters are evaluated only for those (they cost most of a decision's per-request work).
   */
  flows: Partial<Record<Flow, true>>;
  atoms: FilterAtom[];
  clauses: number[][];
  match?: Record<string, true>[];
  exclude?: Record<string, number>[];
}

/**
 * Everything about a tenant's policies that does not depend on the request. `unmatched[i]`: the
 * ranks of the conditions policy i fails unless a request value rescues it (named in an include
 * list, or "All" where it counts); per condition, `match` rescues and `exclude` fails whatever
 * else holds. `gate[flow]`: the policies that do not apply to that token subject, with the rank
 * that says why (DESIGN §4): it wins over every other condition. Entries that cannot change an
 * outcome are left out, and so is anything empty: WASM memory is about ten times the JSON, and
 * tenants can number 10,000.
 */
export interface CaIndex {
  /**
   * Per policy (data order), the key every map of the index names it by: its position, as a
   * string (the document's id is `policies[i].id`; a short key hashes faster in WASM).
   */
  keys: string[];
  modes: ('enforced' | 'reportOnly' | 'disabled')[];
  unmatched: number[][];
  /** Per policy, the ranks of the conditions its document sets, ascending: What-If lists them. */
  conditions: number[][];
  gate?: Partial<Record<Flow, Record<string, number>>>;
  agentIdentities?: ConditionIndex & { filters?: FilterIndex };
  /**
   * `match`/`exclude` by user id; `*_group`, `*_role` by group and role id; `match_guest` /
   * `exclude_guest` by guest type ("*": any guest); `all_users`: policies that include All (on
   * behalf of a user); `all_agent_users`: policies that include AllAgentIdUsers (agent users);
   * `without_user`: policies a request without a user fails.
   */
  users?: ConditionIndex & {
    match_group?: Matches;
    exclude_group?: Exclusions;
    match_role?: Matches;
    exclude_role?: Exclusions;
    match_guest?: Matches;
    exclude_guest?: Exclusions;
    all_users?: Record<string, true>;
    all_agent_users?: Record<string, true>;
    without_user?: Record<string, number>;
  };
  /** `agent_resources`/`exclude_agent_resources`: AllAgentIdResources in the include/exclude list. */
  application?: ConditionIndex & {
    agent_resources?: Record<string, true>;
    exclude_agent_resources?: Record<string, number>;
    filters?: FilterIndex;
  };
  agentIdRisk?: ConditionIndex;
  userRisk?: ConditionIndex;
  signInRisk?: ConditionIndex;
  location?: ConditionIndex;
  devicePlatform?: ConditionIndex;
  clientApps?: ConditionIndex;
  devices?: { filters?: FilterIndex };
}

/** Graph spells it "All" (platforms "all"): any case counts. */
const isAll = (x: string): boolean => x.toLowerCase() === 'all';
const hasAll = (xs: readonly string[]): boolean => xs.some(isAll);

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

/** Drops empty maps and lists, then the whole object when nothing is left. */
function compact<T extends object>(o: T): T | undefined {
  const out = Object.fromEntries(
    Object.entries(o).filter(([, v]: [string, unknown]) =>
      Array.isArray(v) ? v.length > 0 : typeof v === 'object' && v !== null && Object.keys(v).length > 0,
    ),
  );
  return Object.keys(out).length > 0 ? (out as T) : undefined;
}

/** Builds one kind of filter index: atoms and clauses deduplicated across the tenant's policies. */
class FilterBuilder {
  private readonly atoms: FilterAtom[] = [];
  private readonly clauses: number[][] = [];
  private readonly match: Map<string, true>[] = [];
  private readonly exclude: Map<string, number>[] = [];
  private readonly atomIds = new Map<string, number>();
  private readonly clauseIds = new Map<string, number>();
  private readonly policies = new Set<string>();

  add(id: string, filter: CompiledFilter, conditionRank: number): void {
    this.policies.add(id);
    for (const clause of filter.dnf) {
      const numbers = [
        ...new Set(
          clause.map((atom) => {
            const key = JSON.stringify([atom.path, atom.op, atom.value, atom.ci === true]);
            let j = this.atomIds.get(key);
            if (j === undefined) {
              j = this.atoms.length;
              this.atomIds.set(key, j);
              this.atoms.push({
                attr: atom.attr,
                path: atom.path,
                op: atom.op,
                value: atom.value,
                ...(atom.ci === true && { ci: true }),
              });
            }
            return j;
          }),
        ),
      ].sort((a, b) => a - b);
      const key = numbers.join(',');
      let k = this.clauseIds.get(key);
      if (k === undefined) {
        k = this.clauses.length;
        this.clauseIds.set(key, k);
        this.clauses.push(numbers);
        this.match.push(new Map());
        this.exclude.push(new Map());
      }
      if (filter.mode === 'include') this.match[k]?.set(id, true);
      else this.exclude[k]?.set(id, conditionRank);
    }
  }

  build(gate: ReadonlyMap<Flow, ReadonlyMap<string, number>>): FilterIndex | undefined {
    if (this.clauses.length === 0) return undefined;
    const flows: Partial<Record<Flow, true>> = {};
    for (const flow of FLOWS) {
      const closed = gate.get(flow);
      if ([...this.policies].some((id) => closed?.has(id) !== true)) flows[flow] = true;
    }
    const someOf = <T>(per: Map<string, T>[]): Record<string, T>[] =>
      per.some((m) => m.size > 0) ? per.map(jsonObject) : [];
    return compact({
      flows,
      atoms: this.atoms,
      clauses: this.clauses,
      match: someOf(this.match),
      exclude: someOf(this.exclude),
    });
  }
}

/** The token subjects a policy applies to (DESIGN §4), and for the others the rank that says why not. */
export function subjectGate(p: CompiledPolicy): Map<Flow, number> {
  const gate = new Map<Flow, number>();
  const c = p.compiled;
  for (const flow of FLOWS) {
    if (c.flows !== null) {
      if (!c.flows.includes(flow)) gate.set(flow, rank('flows'));
    } else if (flow === 'autonomous') {
      if (c.agents === null) gate.set(flow, rank('agentIdentities'));
    } else if (c.agents !== null || c.users === null) {
      gate.set(flow, rank('users'));
    }
  }
  return gate;
}

/** The evaluation model's field of each condition a document can set. */
const CONDITION_FIELDS: readonly [keyof CompiledPolicy['compiled'], string][] = [
  ['agents', 'agentIdentities'],
  ['users', 'users'],
  ['applications', 'application'],
  ['agent_id_risk_levels', 'agentIdRisk'],
  ['user_risk_levels', 'userRisk'],
  ['sign_in_risk_levels', 'signInRisk'],
  ['locations', 'location'],
  ['platforms', 'devicePlatform'],
  ['client_app_types', 'clientApps'],
  ['device_filter', 'devices'],
  ['flows', 'flows'],
];

/**
 * The ranks of the conditions a document sets, ascending (What-If lists them, with the one the
 * subject gate names). An agent-identity policy's users assignment ("None") is no condition
 * unless the flows extension makes it one.
 */
function setConditions(p: CompiledPolicy): number[] {
  const c = p.compiled;
  const ranks = CONDITION_FIELDS.filter(([field, name]) => {
    const v = c[field];
    if (v === null || (Array.isArray(v) && v.length === 0)) return false;
    return !(name === 'users' && c.agents !== null && c.flows === null);
  }).map(([, name]) => rank(name));
  if (c.unsupported.length > 0) ranks.push(rank('unsupportedCondition'));
  return ranks;
}

/**
 * Compiles a tenant's policies (data order) into the index the Rego evaluates. Pure
 * restructuring of the documents (which lists name which values, what "All" does); combining them
 * with a request stays in Rego.
 */
export function compileCaIndex(policies: readonly CompiledPolicy[]): CaIndex {
  const cond = (): { match: Lists<true>; exclude: Lists<number> } => ({
    match: new Map(),
    exclude: new Map(),
  });
  const agents = cond();
  const users = cond();
  const usersExtra = {
    match_group: new Map() as Lists<true>,
    exclude_group: new Map() as Lists<number>,
    match_role: new Map() as Lists<true>,
    exclude_role: new Map() as Lists<number>,
    match_guest: new Map() as Lists<true>,
    exclude_guest: new Map() as Lists<number>,
    all_users: new Map<string, true>(),
    all_agent_users: new Map<string, true>(),
    without_user: new Map<string, number>(),
  };
  const application = cond();
  const agentResources = new Map<string, true>();
  const excludeAgentResources = new Map<string, number>();
  const values = {
    agentIdRisk: cond(),
    userRisk: cond(),
    signInRisk: cond(),
    location: cond(),
    devicePlatform: cond(),
    clientApps: cond(),
  };
  const agentFilters = new FilterBuilder();
  const applicationFilters = new FilterBuilder();
  const deviceFilters = new FilterBuilder();
  const gate = new Map<Flow, Map<string, number>>(FLOWS.map((f) => [f, new Map()]));
  const unmatched: number[][] = [];
  const conditions: number[][] = [];

  for (const [position, p] of policies.entries()) {
    // Maps key a policy by its position: a short key is cheaper to hash than the document's id.
    const id = String(position);
    const c = p.compiled;
    const ranks = new Set<number>();
    for (const [flow, r] of subjectGate(p)) gate.get(flow)?.set(id, r);

    /**
     * An include/exclude list. Unless the include list holds "All" (and the exclude list does
     * not), the policy fails by default and a named included value rescues it; a named excluded
     * value fails it. Excluding "All" fails it whatever the request: nothing to look up.
     */
    const lists = (
      name: string,
      map: { match: Lists<true>; exclude: Lists<number> },
      include: readonly string[],
      exclude: readonly string[],
      sentinels: ReadonlyMap<string, (excluded: boolean) => void> = new Map(),
    ): void => {
      const excludesAll = hasAll(exclude);
      if (excludesAll || !hasAll(include)) ranks.add(rank(name));
      if (excludesAll) return;
      if (!hasAll(include)) {
        for (const v of include) {
          const sentinel = sentinels.get(v);
          if (sentinel !== undefined) sentinel(false);
          else put(map.match, v, id, true);
        }
      }
      for (const v of exclude) {
        const sentinel = sentinels.get(v);
        if (sentinel !== undefined) sentinel(true);
        else put(map.exclude, v, id, rank(name));
      }
    };
    /** A list of values: a listed value matches it. */
    const valueList = (name: keyof typeof values, xs: readonly string[] | null): void => {
      if (xs === null || xs.length === 0) return;
      ranks.add(rank(name));
      for (const v of xs) put(values[name].match, v, id, true);
    };

    if (c.agents !== null) {
      lists('agentIdentities', agents, c.agents.include, c.agents.exclude);
      const f = c.agents.filter;
      if (f !== null && !hasAll(c.agents.exclude)) {
        // An include-mode filter adds to an include list without "All"; with "All" it adds nothing.
        if (f.mode === 'exclude' || !hasAll(c.agents.include)) {
          agentFilters.add(id, f, rank('agentIdentities'));
        }
      }
    }

    // An agent-identity policy's users assignment ("None", as Entra writes it) is no condition:
    // only the flows extension makes it one.
    if (c.users !== null && (c.flows !== null || c.agents === null)) {
      const u = c.users;
      const r = rank('users');
      // Users always fail by default: "All" rescues a user only on behalf of whom an agent acts
      // (agent users are not in "All users"), so it is a lookup, not an absence of the condition.
      ranks.add(r);
      usersExtra.without_user.set(id, r);
      const userSentinel = (v: string, excluded: boolean): boolean => {
        if (v === 'All') {
          if (excluded) {
            gate.get('on_behalf_of')?.set(id, r);
          } else usersExtra.all_users.set(id, true);
        } else if (v === ALL_AGENT_ID_USERS) {
          if (excluded) gate.get('agent_user')?.set(id, r);
          else usersExtra.all_agent_users.set(id, true);
        } else if (v === GUESTS_OR_EXTERNAL_USERS) {
          if (excluded) put(usersExtra.exclude_guest, '*', id, r);
          else put(usersExtra.match_guest, '*', id, true);
        } else if (v !== 'None') {
          return false;
        }
        return true;
      };
      for (const v of u.include) if (!userSentinel(v, false)) put(users.match, v, id, true);
      for (const v of u.exclude) if (!userSentinel(v, true)) put(users.exclude, v, id, r);
      for (const g of u.include_groups) put(usersExtra.match_group, g, id, true);
      for (const g of u.exclude_groups) put(usersExtra.exclude_group, g, id, r);
      for (const g of u.include_roles) put(usersExtra.match_role, g, id, true);
      for (const g of u.exclude_roles) put(usersExtra.exclude_role, g, id, r);
      for (const t of u.include_guest_types ?? []) put(usersExtra.match_guest, t, id, true);
      for (const t of u.exclude_guest_types ?? []) put(usersExtra.exclude_guest, t, id, r);
    }

    if (c.applications !== null) {
      const a = c.applications;
      const r = rank('application');
      lists(
        'application',
        application,
        a.include,
        a.exclude,
        new Map([
          [
            ALL_AGENT_ID_RESOURCES,
            (excluded: boolean) => {
              if (excluded) excludeAgentResources.set(id, r);
              else agentResources.set(id, true);
            },
          ],
        ]),
      );
      const f = a.filter;
      if (f !== null && !hasAll(a.exclude) && (f.mode === 'exclude' || !hasAll(a.include))) {
        applicationFilters.add(id, f, r);
      }
    }

    valueList('agentIdRisk', c.agent_id_risk_levels);
    valueList('userRisk', c.user_risk_levels);
    valueList('signInRisk', c.sign_in_risk_levels);
    if (c.locations !== null) lists('location', values.location, c.locations.include, c.locations.exclude);
    if (c.platforms !== null)
      lists('devicePlatform', values.devicePlatform, c.platforms.include, c.platforms.exclude);
    valueList('clientApps', c.client_app_types);
    if (c.device_filter !== null) {
      deviceFilters.add(id, c.device_filter, rank('devices'));
      if (c.device_filter.mode === 'include') ranks.add(rank('devices'));
    }
    // Never rescued: a report-only document with conditions the PDP cannot evaluate never applies.
    if (c.unsupported.length > 0) ranks.add(rank('unsupportedCondition'));
    unmatched.push([...ranks].sort((a, b) => a - b));
    conditions.push(setConditions(p));
  }

  const index: CaIndex = {
    keys: policies.map((_, position) => String(position)),
    modes: policies.map((p) =>
      p.state === 'disabled'
        ? 'disabled'
        : p.state === 'enabledForReportingButNotEnforced'
          ? 'reportOnly'
          : 'enforced',
    ),
    unmatched,
    conditions,
  };
  const gateOut = compact(
    Object.fromEntries(FLOWS.map((f) => [f, jsonObject(gate.get(f) ?? new Map<string, number>())])),
  );
  if (gateOut !== undefined) index.gate = gateOut;
  const set = <K extends keyof CaIndex>(key: K, value: CaIndex[K] | undefined): void => {
    if (value !== undefined) index[key] = value;
  };
  set(
    'agentIdentities',
    compact({
      match: nested(agents.match),
      exclude: nested(agents.exclude),
      filters: agentFilters.build(gate) ?? ({} as FilterIndex),
    }),
  );
  set(
    'users',
    compact({
      match: nested(users.match),
      exclude: nested(users.exclude),
      match_group: nested(usersExtra.match_group),
      exclude_group: nested(usersExtra.exclude_group),
      match_role: nested(usersExtra.match_role),
      exclude_role: nested(usersExtra.exclude_role),
      match_guest: nested(usersExtra.match_guest),
      exclude_guest: nested(usersExtra.exclude_guest),
      all_users: jsonObject(usersExtra.all_users),
      all_agent_users: jsonObject(usersExtra.all_agent_users),
      without_user: jsonObject(usersExtra.without_user),
    }),
  );
  set(
    'application',
    compact({
      match: nested(application.match),
      exclude: nested(application.exclude),
      agent_resources: jsonObject(agentResources),
      exclude_agent_resources: jsonObject(excludeAgentResources),
      filters: applicationFilters.build(gate) ?? ({} as FilterIndex),
    }),
  );
  for (const name of Object.keys(values) as (keyof typeof values)[]) {
    set(name, compact({ match: nested(values[name].match), exclude: nested(values[name].exclude) }));
  }
  set('devices', compact({ filters: deviceFilters.build(gate) ?? ({} as FilterIndex) }));
  return index;
}
