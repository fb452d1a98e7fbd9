import { LRUCache } from 'lru-cache';
import type { RedisClient } from '../store/redis-connection';

/**
 * What the detectors count, shared by every replica through Redis (in process without it): per
 * agent, denies and grants per minute, the resources it asked for with when it last did, and when
 * it was first seen. Keys are in the tenant's hash slot (`pdp:{tenant}:det:…`) and expire.
 */

export interface AgentEvents {
  tenant: string;
  agent: string;
  /** Per minute (epoch seconds of its start): denies and grants. */
  denies: Map<number, number>;
  grants: Map<number, number>;
  /** Resource → when last asked for (epoch seconds). */
  resources: Map<string, number>;
  /** The batch's first event (epoch seconds): the agent's first sight when it is new. */
  first: number;
}

export interface CountQuery {
  /** Minutes (epoch seconds of their start) whose denies and grants to read. */
  denyMinutes: number[];
  grantMinutes: number[];
  /** Resources asked for before this long ago are not in the history. */
  historyFrom: number;
  /** Keep counters this long (seconds). */
  ttlSeconds: number;
}

export interface AgentCounts {
  firstSeen: number;
  denies: Map<number, number>;
  grants: Map<number, number>;
  /** The batch's resources that were not in the history before it. */
  unfamiliar: string[];
}

export interface DetectionState {
  /** Records the batch of one agent and answers the counts (the batch included). */
  apply(events: AgentEvents, query: CountQuery): Promise<AgentCounts>;
}

const key = (tenant: string, agent: string, part: string): string => `pdp:{${tenant}}:det:${agent}:${part}`;

export class RedisDetectionState implements DetectionState {
  constructor(private readonly redis: RedisClient) {}

  async apply(e: AgentEvents, q: CountQuery): Promise<AgentCounts> {
    const resources = [...e.resources.keys()];
    const resKey = key(e.tenant, e.agent, 'res');
    const firstKey = key(e.tenant, e.agent, 'first');
    // Before recording: which resources the history already holds, and the first sight.
    const before = this.redis.pipeline();
    before.set(firstKey, String(e.first), 'EX', q.ttlSeconds, 'NX');
    before.get(firstKey);
    for (const r of resources) before.zscore(resKey, r);
    const seen = (await before.exec()) ?? [];
    const after = this.redis.pipeline();
    after.expire(firstKey, q.ttlSeconds);
    for (const [minute, n] of e.denies) {
      after.incrby(key(e.tenant, e.agent, `deny:${minute}`), n);
      after.expire(key(e.tenant, e.agent, `deny:${minute}`), q.ttlSeconds);
    }
    for (const [minute, n] of e.grants) {
      after.incrby(key(e.tenant, e.agent, `grant:${minute}`), n);
      after.expire(key(e.tenant, e.agent, `grant:${minute}`), q.ttlSeconds);
    }
    for (const [r, at] of e.resources) after.zadd(resKey, 'GT', at, r);
    after.zremrangebyscore(resKey, '-inf', `(${q.historyFrom}`);
    after.expire(resKey, q.ttlSeconds);
    const deny = q.denyMinutes.map((m) => key(e.tenant, e.agent, `deny:${m}`));
    const grant = q.grantMinutes.map((m) => key(e.tenant, e.agent, `grant:${m}`));
    if (deny.length > 0) after.mget(...deny);
    if (grant.length > 0) after.mget(...grant);
    const out = (await after.exec()) ?? [];
    const fail = [...seen, ...out].find(([err]) => err !== null);
    if (fail !== undefined) throw fail[0] as Error;
    const firstSeen = Number(seen[1]?.[1] ?? e.first);
    const unfamiliar = resources.filter((_r, i) => {
      const score = seen[2 + i]?.[1];
      return score === null || score === undefined || Number(score) < q.historyFrom;
    });
    const tail = out.slice(out.length - (deny.length > 0 ? 1 : 0) - (grant.length > 0 ? 1 : 0));
    const denyValues = deny.length > 0 ? (tail[0]?.[1] as (string | null)[]) : [];
    const grantValues = grant.length > 0 ? (tail[deny.length > 0 ? 1 : 0]?.[1] as (string | null)[]) : [];
    return {
      firstSeen: Number.isFinite(firstSeen) ? firstSeen : e.first,
      denies: new Map(q.denyMinutes.map((m, i) => [m, Number(denyValues[i] ?? 0) || 0])),
      grants: new Map(q.grantMinutes.map((m, i) => [m, Number(grantValues[i] ?? 0) || 0])),
      unfamiliar,
    };
  }
}

/** The same counts in this process (the memory store: one process is the whole deployment). */
export class MemoryDetectionState implements DetectionState {
  private readonly agents = new LRUCache<
    string,
    {
      first: number;
      denies: Map<number, number>;
      grants: Map<number, number>;
      resources: Map<string, number>;
    }
  >({ max: 100_000 });

  apply(e: AgentEvents, q: CountQuery): Promise<AgentCounts> {
    const id = `${e.tenant}\n${e.agent}`;
    let a = this.agents.get(id);
    if (a === undefined) {
      a = { first: e.first, denies: new Map(), grants: new Map(), resources: new Map() };
      this.agents.set(id, a);
    }
    const unfamiliar = [...e.resources.keys()].filter(
      (r) => (a.resources.get(r) ?? -Infinity) < q.historyFrom,
    );
    for (const [m, n] of e.denies) a.denies.set(m, (a.denies.get(m) ?? 0) + n);
    for (const [m, n] of e.grants) a.grants.set(m, (a.grants.get(m) ?? 0) + n);
    for (const [r, at] of e.resources) a.resources.set(r, Math.max(at, a.resources.get(r) ?? 0));
    const oldest = Math.min(...q.denyMinutes, ...q.grantMinutes, Infinity);
    for (const counts of [a.denies, a.grants])
      for (const m of counts.keys()) if (m < oldest) counts.delete(m);
    for (const [r, at] of a.resources) if (at < q.historyFrom) a.resources.delete(r);
    return Promise.resolve({
      firstSeen: a.first,
      denies: new Map(q.denyMinutes.map((m) => [m, a.denies.get(m) ?? 0])),
      grants: new Map(q.grantMinutes.map((m) => [m, a.grants.get(m) ?? 0])),
      unfamiliar,
    });
  }
}
