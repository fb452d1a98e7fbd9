import type { RecordKind } from './types';

/** Redis channel on which every write publishes the key it changed. */
export const INVALIDATION_CHANNEL = 'pdp:invalidate';

/**
 * `pdp:{tenant}:<kind>:<id>`. The `{tenant}` hash tag puts a tenant's keys in one slot, so a
 * decision's MGET is legal in Redis Cluster. Tenants and ids are validated by the API to exclude
 * braces and colons in tenants, so a key always parses back unambiguously.
 */
export function recordKey(tenant: string, kind: RecordKind, id: string): string {
  return `pdp:{${tenant}}:${kind}:${id}`;
}

/**
 * The index of a tenant's agents, kept by every store in the same transaction as the agent records
 * themselves (AuthZEN subject search enumerates it).
 */
export const AGENTS_INDEX = 'agents';

/** `pdp:{tenant}:index:<name>`: a per-tenant set (e.g. the agents at risk), read without SCAN. */
export function indexKey(tenant: string, name: string): string {
  return `pdp:{${tenant}}:index:${name}`;
}

/** `pdp:{tenant}:trail`: the tenant's governance trail (a Redis stream, trimmed). */
export function trailKey(tenant: string): string {
  return `pdp:{${tenant}}:trail`;
}

/** `pdp:{tenant}:trail:agent:<id>`: the changes that concern one agent. */
export function agentTrailKey(tenant: string, agentId: string): string {
  return `pdp:{${tenant}}:trail:agent:${agentId}`;
}
