/** Directory records and risk signals, as stored (JSON values under the keys of DESIGN §5). */

export type RiskLevel = 'none' | 'low' | 'medium' | 'high';

export interface AgentRecord {
  id: string;
  blueprint_id: string;
  display_name?: string;
  enabled: boolean;
  sponsors: string[];
  attributes: Record<string, unknown>;
  expires_at?: string | null;
  updated_at?: string;
}

export interface BlueprintRecord {
  id: string;
  display_name?: string;
  enabled: boolean;
  permissions: Record<string, string[]>;
  max_ttl_seconds?: number | null;
  attributes: Record<string, unknown>;
  updated_at?: string;
}

export interface AgentRiskRecord {
  level: RiskLevel;
  state?: string;
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

export type RecordKind = 'agent' | 'blueprint' | 'risk:agent' | 'risk:user' | 'revoked:agent';

export interface RecordOf {
  agent: AgentRecord;
  blueprint: BlueprintRecord;
  'risk:agent': AgentRiskRecord;
  'risk:user': UserRiskRecord;
  'revoked:agent': RevocationRecord;
}

/** What one decision needs from the store, read in one round trip where possible. */
export interface SignalsQuery {
  tenant: string;
  agentId: string;
  userId?: string | undefined;
  /** The blueprint the caller named; read alongside the agent so a cold cache costs one MGET. */
  blueprintHint?: string | undefined;
}

export interface SignalSnapshot {
  agent: AgentRecord | null;
  blueprint: BlueprintRecord | null;
  agentRisk: AgentRiskRecord | null;
  userRisk: UserRiskRecord | null;
  revocation: RevocationRecord | null;
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
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
