/**
 * The evaluation model of a Conditional Access policy: what the loader (src/engine/ca-normalise.ts)
 * makes of one Graph `conditionalAccessPolicy` document, and the only thing the index compiler
 * (src/engine/ca-index.ts) and the Rego read. Graph's spellings stay in the document; here every
 * condition is either `null` (absent, `null` or empty in the document: matches everything) or
 * the values that decide it, with Graph's sentinels kept as Graph writes them.
 */

import type { Flow, RiskLevel } from '../vocabulary';

export { FLOWS, type Flow, type RiskLevel } from '../vocabulary';

export type PolicyState = 'enabled' | 'disabled' | 'enabledForReportingButNotEnforced';

/** Graph's sentinels (DESIGN §4). */
export const ALL = 'All';
export const NONE = 'None';
export const ALL_TRUSTED = 'AllTrusted';
export const ALL_AGENT_ID_USERS = 'AllAgentIdUsers';
export const ALL_AGENT_ID_RESOURCES = 'AllAgentIdResources';
export const GUESTS_OR_EXTERNAL_USERS = 'GuestsOrExternalUsers';
/** Graph's "All Compliant Network locations" named location (Global Secure Access). */
export const COMPLIANT_NETWORK_LOCATION = '3d46dbda-8382-466a-856d-eb00cbc6b910';

export type FilterOp =
  'eq' | 'ne' | 'in' | 'notIn' | 'contains' | 'notContains' | 'startsWith' | 'notStartsWith';

/**
 * One comparison of a filter rule. `path` locates the value in the object the filter is evaluated
 * against (agent record, resource record, or the request's device), e.g.
 * `CustomSecurityAttribute.Engineering_Project` → ["custom_security_attributes", "Engineering",
 * "Project"]. `ci`: compare case-insensitively (the value is stored lower-cased).
 */
export interface FilterAtom {
  /** The attribute as the rule wrote it, for messages. */
  attr: string;
  path: string[];
  op: FilterOp;
  value: string | boolean | string[];
  ci?: boolean;
}

/** A filter rule in disjunctive normal form: it holds when any clause has all its atoms true. */
export type Dnf = FilterAtom[][];

export interface CompiledFilter {
  mode: 'include' | 'exclude';
  dnf: Dnf;
}

export interface IncludeExclude {
  include: string[];
  exclude: string[];
}

/** Authentication strengths Entra builds in, by what they require of `user.amr`. */
export type BuiltInStrength = 'mfa' | 'passwordlessMfa' | 'phishingResistantMfa';

export interface CompiledPolicy {
  id: string;
  displayName: string;
  state: PolicyState;
  /** The document's grant controls as written (`builtInControls`), for responses. */
  controls: string[];
  /** Extension: least-privilege narrowing (agentControls). */
  agentControls?: { allowedScopes?: string[]; maxTokenTtlSeconds?: number };
  compiled: {
    /**
     * Extension `conditions.flows`: the subjects the policy applies to, exactly. null: the subject
     * table of DESIGN §4 decides (agent-identity policies for `autonomous`, user policies for
     * `on_behalf_of` and `agent_user`).
     */
    flows: Flow[] | null;
    /**
     * clientApplications' agent-identity assignment; null when the policy assigns no agent
     * identities. `include` holds agent ids, blueprint ids, blueprint principal ids (and the
     * extension `includeAgentIdBlueprints`, merged in) or "All"; `exclude` likewise.
     */
    agents: (IncludeExclude & { filter: CompiledFilter | null }) | null;
    /**
     * The users assignment; null when absent. `include`/`exclude` hold user ids and the sentinels
     * All, None, AllAgentIdUsers, GuestsOrExternalUsers; groups and roles by id;
     * `include_guest_types`/`exclude_guest_types` from include/excludeGuestsOrExternalUsers
     * (Graph's guestOrExternalUserTypes, split), null when not set.
     */
    users: {
      include: string[];
      exclude: string[];
      include_groups: string[];
      exclude_groups: string[];
      include_roles: string[];
      exclude_roles: string[];
      include_guest_types: string[] | null;
      exclude_guest_types: string[] | null;
    } | null;
    /** Target resources: resource ids / identifier URIs, All, AllAgentIdResources, applicationFilter. */
    applications: (IncludeExclude & { filter: CompiledFilter | null }) | null;
    agent_id_risk_levels: RiskLevel[] | null;
    user_risk_levels: RiskLevel[] | null;
    sign_in_risk_levels: RiskLevel[] | null;
    /** Named location ids, All, AllTrusted, the compliant-network id. */
    locations: IncludeExclude | null;
    /** Lower-cased platforms; "all" as Graph writes it. */
    platforms: IncludeExclude | null;
    /** Graph clientAppTypes; null when absent, empty or holding "all". */
    client_app_types: string[] | null;
    device_filter: CompiledFilter | null;
    grant: {
      operator: 'AND' | 'OR';
      /** block, mfa, compliantDevice, domainJoinedDevice. */
      controls: string[];
      authentication_strength: BuiltInStrength | null;
    } | null;
    sign_in_frequency_seconds: number | null;
    /**
     * JSON pointers of what the PDP cannot evaluate. Only a report-only or disabled document may
     * have any (an enforced one is a load error): it reports reportOnlyNotApplied with reason
     * unsupportedCondition.
     */
    unsupported: string[];
  };
}

export interface NamedLocation {
  id: string;
  displayName: string;
  /** ipNamedLocation */
  isTrusted?: boolean;
  ipRanges?: string[];
  /** countryNamedLocation: upper-case ISO 3166 alpha-2 codes. */
  countriesAndRegions?: string[];
  includeUnknownCountriesAndRegions?: boolean;
}
