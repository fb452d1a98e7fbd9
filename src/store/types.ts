/** Directory records and risk signals, as stored (JSON values under the keys of DESIGN §5). */

import type { AuditContext, GovernanceEvent, TrailQuery } from '../governance/trail';
import type { RiskLevel } from '../vocabulary';

export type { RiskLevel };

export interface AgentRecord {
  id: string;
  blueprint_id: string;
  display_name?: string;
  enabled: boolean;
  sponsors: string[];
  attributes: Record<string, unknown>;
  custom_security_attributes?: CustomSecurityAttributes;
  expires_at?: string | null;
  /** Direct grants to this agent (resource → scopes), added to its blueprint's. */
  permissions?: Record<string, string[]>;
  updated_at?: string;
}

/** Graph's `customSecurityAttributes`: attribute set → attribute → value (annotations kept as written). */
export type CustomSecurityAttributes = Record<string, Record<string, unknown>>;

export interface AgentUserRecord {
  id: string;
  agent_id: string;
  display_name?: string;
  enabled: boolean;
  custom_security_attributes?: CustomSecurityAttributes;
  updated_at?: string;
}

export interface ResourceRecord {
  id: string;
  display_name?: string;
  identifier_uris: string[];
  custom_security_attributes?: CustomSecurityAttributes;
  updated_at?: string;
}

/** A secondary index entry: the record a unique name (identifier URI, principal id, agent) points at. */
export interface LinkRecord {
  id: string;
}

export interface BlueprintRecord {
  id: string;
  display_name?: string;
  enabled: boolean;
  permissions: Record<string, string[]>;
  max_ttl_seconds?: number | null;
  principal_id?: string;
  attributes: Record<string, unknown>;
  custom_security_attributes?: CustomSecurityAttributes;
  updated_at?: string;
}

export interface AgentRiskRecord {
  level: RiskLevel;
  state?: string;
  /** Graph riskDetail of the last ID Protection action (e.g. adminConfirmedAgentCompromised). */
  risk_detail?: string;
  detections?: unknown[];
  updated_at?: string;
}

export interface UserRiskRecord {
  level: RiskLevel;
  updated_at?: string;
}

export interface RevocationRecord {
  revoked_at: string;
  revoked_at_epoch: number;
  reason?: string;
}

export type RecordKind =
  | 'agent'
  | 'blueprint'
  | 'risk:agent'
  | 'risk:user'
  | 'revoked:agent'
  | 'agent-user'
  | 'agent-user-of'
  | 'resource'
  | 'resource-uri'
  | 'blueprint-principal'
  | 'risk:agent-user'
  | 'risk:blueprint'
  | 'access-package'
  | 'assignment'
  | 'grants:agent'
  | 'grants:shared'
  | 'lifecycle'
  | 'activity:agent'
  | 'detection-settings';

export interface RecordOf {
  agent: AgentRecord;
  blueprint: BlueprintRecord;
  'risk:agent': AgentRiskRecord;
  'risk:user': UserRiskRecord;
  'revoked:agent': RevocationRecord;
  'agent-user': AgentUserRecord;
  'agent-user-of': LinkRecord;
  resource: ResourceRecord;
  'resource-uri': LinkRecord;
  'blueprint-principal': LinkRecord;
  'risk:agent-user': AgentRiskRecord;
  'risk:blueprint': AgentRiskRecord;
  'access-package': AccessPackageRecord;
  assignment: AssignmentRecord;
  'grants:agent': GrantsRecord;
  'grants:shared': GrantsRecord;
  lifecycle: LifecycleRecord;
  'activity:agent': ActivityRecord;
  'detection-settings': DetectionSettings;
}

/** A tenant's detection thresholds (src/governance/detections.ts), id `settings`. */
export interface DetectionSettings {
  failedAccessAttempt: { enabled: boolean; threshold: number; window_seconds: number; level: RiskLevel };
  unfamiliarResourceAccess: {
    enabled: boolean;
    learning_days: number;
    history_days: number;
    level: RiskLevel;
  };
  signInSpike: {
    enabled: boolean;
    factor: number;
    min_count: number;
    window_seconds: number;
    baseline_windows: number;
    level: RiskLevel;
  };
  riskyUserSignIn: { enabled: boolean };
  updated_at?: string;
}

/** A tenant's lifecycle policies (src/governance/lifecycle.ts), id `policies`. */
export interface LifecycleRecord {
  policies: LifecyclePolicy[];
  updated_at?: string;
}

export type LifecycleAction = 'disable' | 'delete' | 'disableThenDelete';

/** Entra Agent ID's lifecycle policy kinds; one of each per tenant at most. */
export type LifecyclePolicy =
  | { kind: 'sponsorReconfirmation'; interval_days: number; grace_days: number; action: LifecycleAction }
  | { kind: 'minimumSponsors'; minimum: number; grace_days: number; action: LifecycleAction }
  | { kind: 'inactivity'; inactive_days: number; grace_days: number; action: LifecycleAction };

/** When the agent was last granted a token (to the minute), written off the response path. */
export interface ActivityRecord {
  last_token_at: string;
  last_token_epoch: number;
}

/** An access package (src/governance/access.ts): resources an assignment grants, and its rules. */
export interface AccessPackageRecord {
  id: string;
  display_name: string;
  resources: Record<string, string[]>;
  max_duration_seconds: number;
  requestors: ('sponsor' | 'agent' | 'admin')[];
  /** No sponsors and no users: assignments need no approval. */
  approvers: { sponsors: boolean; users: string[] };
  justification_required: boolean;
  updated_at?: string;
}

export type AssignmentTarget = { agent_id: string } | { blueprint_id: string } | { all_agents: true };

/** Stored states; `expired` is derived from `expires_at_epoch` when read, never written. */
export type AssignmentState = 'requested' | 'active' | 'denied' | 'revoked';

export interface AssignmentRecord {
  id: string;
  package_id: string;
  target: AssignmentTarget;
  state: AssignmentState;
  duration_seconds: number;
  justification?: string;
  requested_by: string;
  requested_at: string;
  decided_by?: string;
  decided_at?: string;
  expires_at?: string;
  expires_at_epoch?: number;
  revoked_by?: string;
  revoked_at?: string;
}

/** What an active assignment grants, as decisions read it (input.directory.grants). */
export interface Entitlement {
  assignment_id: string;
  package_id: string;
  permissions: Record<string, string[]>;
  expires_at: string;
  expires_at_epoch: number;
  /** Shared entitlements only: whom they grant to. */
  target?: AssignmentTarget;
}

/**
 * The entitlements of one agent (`grants:agent`, id the agent's) or of a tenant's blueprint- and
 * all-agents-targeted assignments (`grants:shared`, id SHARED_GRANTS_ID). Expired entries may
 * linger until the next write: decisions compare `expires_at_epoch` with `now`.
 */
export interface GrantsRecord {
  entitlements: Entitlement[];
}

/** One write of a multi-key change: a value to set, or null to delete. */
export interface WriteOp {
  kind: RecordKind;
  id: string;
  value: unknown;
}

/** The writes a read-modify-write decided on (SignalStore.transact), and what it answers. */
export interface Transaction<T> {
  ops: readonly WriteOp[];
  audit?: AuditContext;
  result: T;
}

/** A record a transaction reads and guards. */
export interface RecordRef {
  kind: RecordKind;
  id: string;
}

/** What request.resource names among the tenant's agents and blueprints (DESIGN §3, AllAgentIdResources). */
export interface ResourceAgent {
  kind: 'agent' | 'blueprint';
  id: string;
}

/** What one decision needs from the store, read in one round trip where possible. */
export interface SignalsQuery {
  tenant: string;
  agentId: string;
  userId?: string | undefined;
  /** The blueprint the caller named; read alongside the agent so a cold cache costs one MGET. */
  blueprintHint?: string | undefined;
  /** flow agent_user: `userId` is the agent user's id, whose record and risk are read too. */
  agentUser?: boolean | undefined;
  /** request.resource: read as a resource id, an identifier URI, an agent, a blueprint and a blueprint principal. */
  resource?: string | undefined;
}

export interface SignalSnapshot {
  agent: AgentRecord | null;
  blueprint: BlueprintRecord | null;
  agentRisk: AgentRiskRecord | null;
  blueprintRisk: AgentRiskRecord | null;
  agentUser: AgentUserRecord | null;
  agentUserRisk: AgentRiskRecord | null;
  resource: ResourceRecord | null;
  resourceAgent: ResourceAgent | null;
  userRisk: UserRiskRecord | null;
  revocation: RevocationRecord | null;
  /** The agent's entitlements and the shared ones targeting it (its blueprint, all agents); expired ones included. */
  grants: Entitlement[];
  /** The tenant's lifecycle record and the agent's activity, as stored (not trusted: read by lifecycle.ts). */
  lifecycle: unknown;
  activity: unknown;
  /** Some value came from cache past its TTL because the store failed (stale-if-error). */
  degraded: boolean;
  /** The store failed and nothing usable was cached: the decision must deny. */
  unavailable: boolean;
}

/** The store's circuit breaker (Redis only): open means no store call at all. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** What failed last: the decision budget or a command timeout, the connection, or a server reply. */
export type StoreFailure = 'timeout' | 'connection' | 'server';

/**
 * Store health as /readyz reports it. It does not decide readiness: decisions answer through an
 * outage (stale-if-error, then fail closed), so a replica stays in service while Redis is away.
 */
export interface StoreHealth {
  kind: 'redis' | 'memory';
  /** Connected, breaker closed: decisions read the store. */
  reachable: boolean;
  breaker?: BreakerState;
  /** When `reachable` last changed (RFC 3339). */
  since?: string;
  /** Why the store was last found unreachable (a class, not a message: /readyz is unauthenticated). */
  last_failure?: StoreFailure | null;
}

/**
 * The seam between decisions and where signals live. `readSignals` never throws for an
 * unreachable store: it reports `unavailable`/`degraded` so the policy can fail closed.
 * Directory reads and writes throw `PdpError('store_unavailable')`.
 */
export interface SignalStore {
  readonly kind: 'redis' | 'memory';
  readSignals(query: SignalsQuery): Promise<SignalSnapshot>;
  get<K extends RecordKind>(kind: K, tenant: string, id: string): Promise<RecordOf[K] | null>;
  put<K extends RecordKind>(kind: K, tenant: string, id: string, value: RecordOf[K]): Promise<void>;
  delete(kind: RecordKind, tenant: string, id: string): Promise<boolean>;
  /**
   * Several keys set (value) or deleted (null) at once, each published for invalidation; with
   * `audit`, its changes are appended to the governance trail in the same transaction.
   */
  write(tenant: string, ops: readonly WriteOp[], audit?: AuditContext): Promise<void>;
  /**
   * Read-modify-write: `build` sees the current values of `reads` (parsed, null when absent) and
   * returns the writes, applied as `write` applies them only if none of `reads` changed since
   * they were read (otherwise read and built again, a few times, then 503). `build` must be pure:
   * it may run more than once; what it throws is thrown.
   */
  transact<T>(
    tenant: string,
    reads: readonly RecordRef[],
    build: (values: unknown[]) => Transaction<T>,
  ): Promise<T>;
  /** The governance trail, newest first (src/governance/trail.ts). */
  trail(tenant: string, query: TrailQuery): Promise<GovernanceEvent[]>;
  /** Members of a per-tenant index set (`pdp:{t}:index:<name>`). */
  members(tenant: string, index: string): Promise<string[]>;
  /** Adds (true) or removes (false) members of a per-tenant index set. */
  index(tenant: string, index: string, member: string, present: boolean): Promise<void>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
