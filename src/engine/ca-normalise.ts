/**
 * One Graph `conditionalAccessPolicy` (already valid against the generated Graph schema,
 * src/schemas/graph/ca-graph-model.ts) → the evaluation model of ca-model.ts, plus the load rules
 * of DESIGN §4 that concern a single document. Graph writes an unset condition as absent, `null`
 * or empty: all three become `null`. What the PDP cannot evaluate is never dropped: its pointer
 * goes to `compiled.unsupported`, which only a report-only or disabled document may keep.
 */
import {
  NONE,
  type BuiltInStrength,
  type CompiledFilter,
  type CompiledPolicy,
  type Flow,
  type IncludeExclude,
  type PolicyState,
  type RiskLevel,
} from './ca-model';
import { FilterRuleError, parseFilterRule, type FilterKind } from './filter-rule';
import { RISK_LEVELS } from '../vocabulary';

/** A problem with a document, located by a JSON pointer inside it. */
export interface NormaliseProblem {
  pointer: string;
  message: string;
  keyword: string;
}

/** Entra's built-in authentication strengths (authenticationStrengthPolicy ids, policyType builtIn). */
export const BUILT_IN_STRENGTHS: ReadonlyMap<string, BuiltInStrength> = new Map([
  ['00000000-0000-0000-0000-000000000002', 'mfa'],
  ['00000000-0000-0000-0000-000000000003', 'passwordlessMfa'],
  ['00000000-0000-0000-0000-000000000004', 'phishingResistantMfa'],
]);

/** Grant controls the PDP evaluates (DESIGN §4). */
const EVALUATED_CONTROLS: ReadonlySet<string> = new Set([
  'block',
  'mfa',
  'compliantDevice',
  'domainJoinedDevice',
]);
const KNOWN_RISK_LEVELS: ReadonlySet<string> = new Set(RISK_LEVELS);

type Json = Record<string, unknown>;

const own = (o: unknown, key: string): unknown =>
  typeof o === 'object' && o !== null && !Array.isArray(o) && Object.hasOwn(o, key)
    ? (o as Json)[key]
    : undefined;

const isSet = (x: unknown): boolean =>
  x !== undefined &&
  x !== null &&
  !(Array.isArray(x) && x.length === 0) &&
  !(typeof x === 'string' && x.trim() === '');

const strings = (x: unknown): string[] =>
  Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : [];

/** A flags enum as Graph writes it ("medium,high") or as an array. */
const flags = (x: unknown): string[] =>
  typeof x === 'string'
    ? x
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : strings(x);

const dedupe = (xs: string[]): string[] => [...new Set(xs)];

const incExc = (include: string[], exclude: string[]): IncludeExclude | null =>
  include.length === 0 && exclude.length === 0
    ? null
    : { include: dedupe(include), exclude: dedupe(exclude) };

/** Whether the document assigns users beyond Entra's "nobody" (`includeUsers: ["None"]` alone). */
export function assignsUsers(users: CompiledPolicy['compiled']['users']): boolean {
  if (users === null) return false;
  const onlyNone =
    users.include.length === 1 &&
    users.include[0] === NONE &&
    users.include_groups.length === 0 &&
    users.include_roles.length === 0 &&
    users.include_guest_types === null;
  return !onlyNone;
}

/** Whether the policy applies to agent identities (token subject `autonomous`; DESIGN §4). */
export function appliesToAgents(c: CompiledPolicy['compiled']): boolean {
  return c.flows === null ? c.agents !== null : c.flows.includes('autonomous');
}

export function normalisePolicy(
  doc: Json,
  id: string,
): { policy: CompiledPolicy; problems: NormaliseProblem[] } {
  const problems: NormaliseProblem[] = [];
  const unsupported: string[] = [];
  /** Marks `pointer` as a condition or control the PDP cannot evaluate when `value` is set. */
  const unsupportedIf = (pointer: string, value: unknown): void => {
    if (isSet(value)) unsupported.push(pointer);
  };
  const filter = (pointer: string, value: unknown, kind: FilterKind): CompiledFilter | null => {
    if (value === null || value === undefined) return null;
    const mode = own(value, 'mode') === 'exclude' ? 'exclude' : 'include';
    const rule = own(value, 'rule');
    try {
      return { mode, dnf: parseFilterRule(typeof rule === 'string' ? rule : '', kind) };
    } catch (err) {
      if (!(err instanceof FilterRuleError)) throw err;
      problems.push({ pointer: `${pointer}/rule`, message: err.message, keyword: 'filterRule' });
      return null;
    }
  };
  const riskLevels = (pointer: string, value: unknown): RiskLevel[] | null => {
    const levels = dedupe(flags(value).map((l) => l.toLowerCase()));
    const known = levels.filter((l): l is RiskLevel => KNOWN_RISK_LEVELS.has(l));
    // `hidden` and `unknownFutureValue` name no level a signal carries.
    if (known.length !== levels.length) unsupported.push(pointer);
    return known.length === 0 ? null : known;
  };

  const state = own(doc, 'state') as PolicyState;
  const conditions = own(doc, 'conditions');
  const cond = (name: string): unknown => own(conditions, name);

  // --- who: agent identities (clientApplications) and users
  const ca = cond('clientApplications');
  const agentInclude = [
    ...strings(own(ca, 'includeAgentIdServicePrincipals')),
    ...strings(own(ca, 'includeAgentIdBlueprints')),
  ];
  const agentExclude = strings(own(ca, 'excludeAgentIdServicePrincipals'));
  const agentFilter = filter(
    '/conditions/clientApplications/agentIdServicePrincipalFilter',
    own(ca, 'agentIdServicePrincipalFilter'),
    'agent',
  );
  const agents =
    agentInclude.length === 0 && agentExclude.length === 0 && agentFilter === null
      ? null
      : { include: dedupe(agentInclude), exclude: dedupe(agentExclude), filter: agentFilter };
  for (const name of ['includeServicePrincipals', 'excludeServicePrincipals', 'servicePrincipalFilter']) {
    unsupportedIf(`/conditions/clientApplications/${name}`, own(ca, name));
  }

  const u = cond('users');
  const guestTypes = (name: string): string[] | null => {
    const g = own(u, name);
    if (g === null || g === undefined) return null;
    const tenants = own(g, 'externalTenants');
    if (own(tenants, 'membershipKind') === 'enumerated') {
      unsupported.push(`/conditions/users/${name}/externalTenants`);
    }
    const types = flags(own(g, 'guestOrExternalUserTypes')).filter((t) => t !== 'none');
    return types.length === 0 ? null : dedupe(types);
  };
  const users = {
    include: dedupe(strings(own(u, 'includeUsers'))),
    exclude: dedupe(strings(own(u, 'excludeUsers'))),
    include_groups: dedupe(strings(own(u, 'includeGroups'))),
    exclude_groups: dedupe(strings(own(u, 'excludeGroups'))),
    include_roles: dedupe(strings(own(u, 'includeRoles'))),
    exclude_roles: dedupe(strings(own(u, 'excludeRoles'))),
    include_guest_types: guestTypes('includeGuestsOrExternalUsers'),
    exclude_guest_types: guestTypes('excludeGuestsOrExternalUsers'),
  };
  const usersSet =
    users.include.length +
      users.exclude.length +
      users.include_groups.length +
      users.exclude_groups.length +
      users.include_roles.length +
      users.exclude_roles.length >
      0 ||
    users.include_guest_types !== null ||
    users.exclude_guest_types !== null;

  // --- what: target resources
  const apps = cond('applications');
  const appFilter = filter(
    '/conditions/applications/applicationFilter',
    own(apps, 'applicationFilter'),
    'application',
  );
  const appInclude = strings(own(apps, 'includeApplications'));
  const appExclude = strings(own(apps, 'excludeApplications'));
  const applications =
    appInclude.length === 0 && appExclude.length === 0 && appFilter === null
      ? null
      : { include: dedupe(appInclude), exclude: dedupe(appExclude), filter: appFilter };
  for (const name of [
    'includeUserActions',
    'includeAuthenticationContextClassReferences',
    'globalSecureAccess',
    'networkAccess',
  ]) {
    unsupportedIf(`/conditions/applications/${name}`, own(apps, name));
  }

  // --- conditions
  const loc = cond('locations');
  const plat = cond('platforms');
  const clientAppTypes = dedupe(strings(cond('clientAppTypes')));
  const devices = cond('devices');
  for (const name of ['includeDevices', 'excludeDevices', 'includeDeviceStates', 'excludeDeviceStates']) {
    unsupportedIf(`/conditions/devices/${name}`, own(devices, name));
  }
  for (const name of [
    'servicePrincipalRiskLevels',
    'insiderRiskLevels',
    'authenticationFlows',
    'times',
    'deviceStates',
    'clients',
    'signInRiskDetections',
    'agents',
  ]) {
    const value = cond(name);
    // An object condition is set when any of its members is (Graph writes empty ones as such).
    const set =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.entries(value).some(([k, v]) => !k.includes('@odata.') && isSet(v) && v !== 'none')
        : isSet(value) && value !== 'none';
    if (set) unsupported.push(`/conditions/${name}`);
  }
  const flowList = dedupe(strings(cond('flows'))) as Flow[];

  // --- controls
  const g = own(doc, 'grantControls');
  const builtIn = dedupe(strings(own(g, 'builtInControls')));
  builtIn.forEach((control, i) => {
    if (!EVALUATED_CONTROLS.has(control)) unsupported.push(`/grantControls/builtInControls/${i}`);
  });
  unsupportedIf('/grantControls/customAuthenticationFactors', own(g, 'customAuthenticationFactors'));
  unsupportedIf('/grantControls/termsOfUse', own(g, 'termsOfUse'));
  const strengthDoc = own(g, 'authenticationStrength');
  let strength: BuiltInStrength | null = null;
  if (strengthDoc !== null && strengthDoc !== undefined) {
    const sid = own(strengthDoc, 'id');
    strength = (typeof sid === 'string' ? BUILT_IN_STRENGTHS.get(sid) : undefined) ?? null;
    if (strength === null) unsupported.push('/grantControls/authenticationStrength');
  }
  const controls = builtIn.filter((c) => EVALUATED_CONTROLS.has(c));
  const operator: 'AND' | 'OR' = own(g, 'operator') === 'AND' ? 'AND' : 'OR';
  const grant =
    g === null || g === undefined || (builtIn.length === 0 && strengthDoc == null)
      ? null
      : { operator: operator, controls, authentication_strength: strength };

  const s = own(doc, 'sessionControls');
  let sifSeconds: number | null = null;
  const sif = own(s, 'signInFrequency');
  if (sif !== null && sif !== undefined && own(sif, 'isEnabled') === true) {
    const value = own(sif, 'value');
    const type = own(sif, 'type');
    if (own(sif, 'frequencyInterval') === 'everyTime') {
      unsupported.push('/sessionControls/signInFrequency/frequencyInterval');
    } else if (typeof value === 'number' && (type === 'hours' || type === 'days')) {
      sifSeconds = value * (type === 'days' ? 86400 : 3600);
    } else {
      problems.push({
        pointer: '/sessionControls/signInFrequency',
        message: 'an enabled time-based sign-in frequency needs type (hours or days) and value',
        keyword: 'signInFrequency',
      });
    }
  }
  if (typeof s === 'object' && s !== null) {
    for (const [name, value] of Object.entries(s)) {
      if (name === 'signInFrequency' || name.includes('@odata.')) continue;
      if (name === 'disableResilienceDefaults') {
        if (value === true) unsupported.push(`/sessionControls/${name}`);
        continue;
      }
      if (value === null || typeof value !== 'object') continue;
      const enabled = own(value, 'isEnabled');
      const continuous = name === 'continuousAccessEvaluation' && own(value, 'mode') != null;
      if (enabled === true || continuous) unsupported.push(`/sessionControls/${name}`);
    }
  }

  const ac = own(doc, 'agentControls');
  const allowedScopes = own(ac, 'allowedScopes');
  const maxTtl = own(ac, 'maxTokenTtlSeconds');
  const agentControls =
    ac === null || ac === undefined
      ? undefined
      : {
          ...(Array.isArray(allowedScopes) && { allowedScopes: strings(allowedScopes) }),
          ...(typeof maxTtl === 'number' && { maxTokenTtlSeconds: maxTtl }),
        };

  const displayName = own(doc, 'displayName');
  const policy: CompiledPolicy = {
    id,
    displayName: typeof displayName === 'string' ? displayName : id,
    state,
    controls: builtIn,
    ...(agentControls !== undefined && { agentControls }),
    compiled: {
      flows: flowList.length === 0 ? null : flowList,
      agents,
      users: usersSet ? users : null,
      applications,
      agent_id_risk_levels: riskLevels('/conditions/agentIdRiskLevels', cond('agentIdRiskLevels')),
      user_risk_levels: riskLevels('/conditions/userRiskLevels', cond('userRiskLevels')),
      sign_in_risk_levels: riskLevels('/conditions/signInRiskLevels', cond('signInRiskLevels')),
      locations: incExc(strings(own(loc, 'includeLocations')), strings(own(loc, 'excludeLocations'))),
      platforms: incExc(
        strings(own(plat, 'includePlatforms')).map((x) => x.toLowerCase()),
        strings(own(plat, 'excludePlatforms')).map((x) => x.toLowerCase()),
      ),
      client_app_types: clientAppTypes.length === 0 || clientAppTypes.includes('all') ? null : clientAppTypes,
      device_filter: filter('/conditions/devices/deviceFilter', own(devices, 'deviceFilter'), 'device'),
      grant,
      sign_in_frequency_seconds: sifSeconds,
      unsupported,
    },
  };
  // A filter that does not parse is reported alone: the rules below would misread the policy
  // without it (no agents assigned, say).
  if (problems.length === 0) problems.push(...loadRules(policy));
  return { policy, problems };
}

/** DESIGN §4's rules for one document, on its evaluation model. */
function loadRules(p: CompiledPolicy): NormaliseProblem[] {
  const c = p.compiled;
  const problems: NormaliseProblem[] = [];
  if (p.state === 'enabled') {
    for (const pointer of c.unsupported) {
      problems.push({
        pointer,
        message:
          'is a condition or control the PDP cannot evaluate: only a report-only or disabled policy may set it',
        keyword: 'unsupportedCondition',
      });
    }
  }
  if (appliesToAgents(c)) {
    const why = 'a policy that applies to agent identities may only block (Entra grants them nothing else)';
    p.controls.forEach((control, i) => {
      if (control !== 'block') {
        problems.push({
          pointer: `/grantControls/builtInControls/${i}`,
          message: why,
          keyword: 'agentIdentityControl',
        });
      }
    });
    if (
      c.grant?.authentication_strength != null ||
      c.unsupported.includes('/grantControls/authenticationStrength')
    ) {
      problems.push({
        pointer: '/grantControls/authenticationStrength',
        message: why,
        keyword: 'agentIdentityControl',
      });
    }
    if (c.sign_in_frequency_seconds !== null) {
      problems.push({
        pointer: '/sessionControls/signInFrequency',
        message: why,
        keyword: 'agentIdentityControl',
      });
    }
  }
  if (c.flows === null) {
    if (c.agents !== null && assignsUsers(c.users)) {
      problems.push({
        pointer: '/conditions/users',
        message:
          'assigns both agent identities and users: Entra assigns a policy to one or the other (set includeUsers ["None"], or conditions.flows to opt in)',
        keyword: 'assignment',
      });
    }
    if (c.agents === null && c.users === null) {
      problems.push({
        pointer: '/conditions',
        message: 'assigns nobody: set conditions.users or conditions.clientApplications agent identities',
        keyword: 'assignment',
      });
    }
  }
  return problems;
}
