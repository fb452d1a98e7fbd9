import type { Logger } from 'pino';
import type { Validators } from '../decision/validators';
import { PdpError, describeThrown, type ErrorDetail } from '../errors';
import type { TenantDataCompiler } from '../engine/tenant-data';
import type { AuditContext } from '../governance/trail';
import { RISKY_INDEX, agentsOf, writeRisk } from '../routes/entra-directory';
import { recordLinks } from '../store/links';
import type { RedisClient } from '../store/redis-connection';
import type { RecordKind, SignalStore, WriteOp } from '../store/types';
import { GraphError, mapLimit, type GraphClient } from './client';
import type { GraphDocumentStore } from './documents';
import {
  mapAgent,
  mapAgentUser,
  mapBlueprint,
  mapRiskyAgent,
  mapRiskyUser,
  objectId,
  own,
  type Mapped,
} from './map';

/** The governance trail's actor for what the sync writes. */
export const GRAPH_ACTOR = 'system:graph-sync';

/** The collections the sync reads, each with its own status, metrics and (where Graph has one) delta link. */
export const GRAPH_RESOURCES = [
  'conditionalAccessPolicies',
  'namedLocations',
  'agentIdentityBlueprints',
  'agentIdentityBlueprintPrincipals',
  'agentIdentities',
  'agentUsers',
  'riskyAgents',
  'riskyUsers',
] as const;
export type GraphResource = (typeof GRAPH_RESOURCES)[number];

/** Graph paths, relative to PDP_GRAPH_BASE_URL (beta: agent objects and riskyAgents are beta APIs). */
export const GRAPH_PATHS: Readonly<Record<GraphResource, string>> = {
  conditionalAccessPolicies: 'identity/conditionalAccess/policies',
  namedLocations: 'identity/conditionalAccess/namedLocations',
  agentIdentityBlueprints: 'applications/microsoft.graph.agentIdentityBlueprint?$select=id,appId,displayName',
  agentIdentityBlueprintPrincipals:
    'servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal?$select=id,appId,displayName,accountEnabled,customSecurityAttributes',
  agentIdentities:
    'servicePrincipals/microsoft.graph.agentIdentity?$select=id,displayName,accountEnabled,agentIdentityBlueprintId,customSecurityAttributes&$expand=sponsors($select=id)',
  agentUsers: 'users/microsoft.graph.agentUser?$select=id,displayName,accountEnabled,identityParentId',
  riskyAgents: 'identityProtection/riskyAgents',
  riskyUsers: 'identityProtection/riskyUsers',
};

/**
 * Delta queries: the directory's change tracking for service principals and users. A delta item
 * names a changed object (its properties may be partial), so each is read again whole by id; one
 * with `@removed` is deleted if the sync wrote it. A full sync lists the collection whole and takes
 * a fresh link with `$deltatoken=latest` first, so no change between the two is lost.
 */
const DELTA = {
  agentIdentities: {
    delta: 'servicePrincipals/delta?$select=id,agentIdentityBlueprintId',
    marker: 'agentIdentityBlueprintId',
    get: (id: string) =>
      `servicePrincipals/${encodeURIComponent(id)}/microsoft.graph.agentIdentity?$select=id,displayName,accountEnabled,agentIdentityBlueprintId,customSecurityAttributes&$expand=sponsors($select=id)`,
  },
  agentUsers: {
    delta: 'users/delta?$select=id,identityParentId',
    marker: 'identityParentId',
    get: (id: string) =>
      `users/${encodeURIComponent(id)}/microsoft.graph.agentUser?$select=id,displayName,accountEnabled,identityParentId`,
  },
} as const;
type DeltaResource = keyof typeof DELTA;

export type CycleKind = 'full' | 'incremental';

export interface ResourceStatus {
  last_attempt_at: string | null;
  last_success_at: string | null;
  last_error: string | null;
  objects: number;
  /** Objects Graph returned that did not map to a valid record (kept as they were). */
  rejected: number;
  mode: 'listing' | 'delta' | null;
}

export interface PolicySetStatus {
  hash: string | null;
  published_at: string | null;
  policies: number;
  named_locations: number;
  /** The last set refused by validation (the previous one keeps deciding), with file-like details. */
  rejected: { at: string; message: string; details: readonly ErrorDetail[] } | null;
}

/** The sync's state, kept in Redis so every replica (and the next leader) sees the same. */
export interface SyncState {
  tenant: string;
  last_cycle: {
    kind: CycleKind;
    started_at: string;
    finished_at: string | null;
    outcome: 'running' | 'success' | 'partial' | 'failed' | 'lease_lost';
    holder: string;
  } | null;
  last_full_at: string | null;
  resources: Record<GraphResource, ResourceStatus>;
  policy_set: PolicySetStatus;
}

export function emptyState(tenant: string): SyncState {
  const resources = Object.fromEntries(
    GRAPH_RESOURCES.map((r) => [
      r,
      { last_attempt_at: null, last_success_at: null, last_error: null, objects: 0, rejected: 0, mode: null },
    ]),
  ) as Record<GraphResource, ResourceStatus>;
  return {
    tenant,
    last_cycle: null,
    last_full_at: null,
    resources,
    policy_set: { hash: null, published_at: null, policies: 0, named_locations: 0, rejected: null },
  };
}

export const stateKey = (tenant: string): string => `pdp:{${tenant}}:graph:state`;
const deltaKey = (tenant: string, resource: string): string => `pdp:{${tenant}}:graph:delta:${resource}`;
/** The sync's own index of what it wrote, per kind: deletions touch nothing else. */
const syncedIndex = (kind: RecordKind): string => `graph:${kind}`;

/** Raised when the lease was lost mid-cycle: the cycle stops before its next write. */
export class LeaseLost extends Error {
  constructor() {
    super('the Graph sync lease was lost');
    this.name = 'LeaseLost';
  }
}

export interface SyncHooks {
  onResource?: (resource: GraphResource, outcome: 'success' | 'failure', objects: number, at: number) => void;
}

export interface GraphSyncDeps {
  graph: GraphClient;
  store: SignalStore;
  redis: RedisClient;
  documents: GraphDocumentStore;
  compiler: TenantDataCompiler;
  validators: Validators;
  /** The PDP tenant written to. */
  tenant: string;
  clock: () => number;
  logger: Logger;
  /** True while this replica holds the lease; checked before every write. */
  isLeader: () => boolean;
  hooks?: SyncHooks;
  /** Graph requests for per-object reads (inheritable permissions, sponsors, delta items) in flight at once. */
  concurrency: number;
  /** Delta queries for agent identities and agent users; false: a full listing every cycle. */
  delta: boolean;
}

/** A desired record set for one kind, and what the listing allows to delete. */
interface Desired {
  records: Map<string, Record<string, unknown>>;
  /** A complete listing: every synced record not in it goes. */
  complete: boolean;
  /** Ids Graph listed whose object did not map: kept as they are, never deleted. */
  keep: Set<string>;
  /** Ids Graph reported removed (delta `@removed`, or a 404 on re-read). */
  removed: Set<string>;
}

const same = (a: unknown, b: unknown): boolean => stable(a) === stable(b);
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .filter((k) => k !== 'updated_at')
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return v === undefined ? 'null' : JSON.stringify(v);
}

/**
 * One sync cycle against Graph, run by the lease holder: risk first (the most urgent), then the
 * directory, then the tenant's policies and named locations. Each resource succeeds or fails on
 * its own; a resource whose listing failed anywhere deletes nothing.
 */
export class GraphSync {
  constructor(private readonly deps: GraphSyncDeps) {}

  private iso(): string {
    return new Date(this.deps.clock()).toISOString();
  }

  async loadState(): Promise<SyncState> {
    const raw = await this.deps.redis.get(stateKey(this.deps.tenant));
    const base = emptyState(this.deps.tenant);
    if (raw === null) return base;
    try {
      const parsed = JSON.parse(raw) as Partial<SyncState>;
      return { ...base, ...parsed, resources: { ...base.resources, ...(parsed.resources ?? {}) } };
    } catch {
      return base;
    }
  }

  private async saveState(state: SyncState): Promise<void> {
    await this.deps.redis.set(stateKey(this.deps.tenant), JSON.stringify(state));
  }

  private guard(): void {
    if (!this.deps.isLeader()) throw new LeaseLost();
  }

  async run(kind: CycleKind, holder: string): Promise<SyncState> {
    const state = await this.loadState();
    state.last_cycle = { kind, started_at: this.iso(), finished_at: null, outcome: 'running', holder };
    await this.saveState(state);
    const run = { failures: 0, lost: false };
    const step = async (
      resources: GraphResource[],
      work: () => Promise<Partial<Record<GraphResource, [number, number, ResourceStatus['mode']]>>>,
    ): Promise<void> => {
      // A leader that lost the lease stops at the next step, not only at the next write.
      if (!run.lost && !this.deps.isLeader()) run.lost = true;
      if (run.lost) return;
      const at = this.iso();
      for (const r of resources) state.resources[r].last_attempt_at = at;
      try {
        const counts = await work();
        for (const r of resources) {
          const [objects, rejected, mode] = counts[r] ?? [0, 0, 'listing'];
          state.resources[r] = {
            ...state.resources[r],
            last_success_at: this.iso(),
            last_error: null,
            objects,
            rejected,
            mode,
          };
          this.deps.hooks?.onResource?.(r, 'success', objects, this.deps.clock());
        }
      } catch (err) {
        if (err instanceof LeaseLost) {
          run.lost = true;
          return;
        }
        run.failures += 1;
        const message = describeThrown(err);
        this.deps.logger.warn(
          { resources, err: message },
          'Graph sync of a resource failed; nothing of it was deleted',
        );
        for (const r of resources) {
          state.resources[r].last_error = message;
          this.deps.hooks?.onResource?.(r, 'failure', 0, this.deps.clock());
        }
      }
    };
    await step(['riskyAgents'], async () => ({ riskyAgents: await this.riskyAgents() }));
    await step(['riskyUsers'], async () => ({ riskyUsers: await this.riskyUsers() }));
    await step(['agentIdentityBlueprints', 'agentIdentityBlueprintPrincipals'], async () => {
      const [objects, rejected] = await this.blueprints();
      return {
        agentIdentityBlueprints: [objects, rejected, 'listing'],
        agentIdentityBlueprintPrincipals: [objects, rejected, 'listing'],
      };
    });
    await step(['agentIdentities'], async () => ({
      agentIdentities: await this.deltaResource('agentIdentities', kind),
    }));
    await step(['agentUsers'], async () => ({ agentUsers: await this.deltaResource('agentUsers', kind) }));
    await step(['conditionalAccessPolicies', 'namedLocations'], async () => {
      const [p, l] = await this.policies(state);
      return { conditionalAccessPolicies: [p, 0, 'listing'], namedLocations: [l, 0, 'listing'] };
    });
    const outcome = run.lost
      ? 'lease_lost'
      : run.failures === 0
        ? 'success'
        : run.failures >= 6
          ? 'failed'
          : 'partial';
    state.last_cycle = { ...state.last_cycle, finished_at: this.iso(), outcome };
    if (kind === 'full' && outcome === 'success') state.last_full_at = state.last_cycle.started_at;
    if (!run.lost) await this.saveState(state);
    return state;
  }

  // ---- risk ----

  private async riskyAgents(): Promise<[number, number, 'listing']> {
    const { store, tenant, validators } = this.deps;
    const { items } = await this.deps.graph.list(GRAPH_PATHS.riskyAgents);
    const desired = new Map<RecordKind, Desired>(
      (['risk:agent', 'risk:agent-user', 'risk:blueprint'] as const).map((k) => [
        k,
        { records: new Map(), complete: true, keep: new Set(), removed: new Set() },
      ]),
    );
    let rejected = 0;
    for (const item of items) {
      const m = mapRiskyAgent(validators, item);
      if (!m.ok || m.kind === undefined) {
        rejected += 1;
        // An unknown type or shape could belong to any kind: no risk record may be deleted this cycle.
        for (const d of desired.values()) d.complete = false;
        this.deps.logger.warn({ id: m.id, problem: m.ok ? 'no kind' : m.problem }, 'riskyAgent not mapped');
        continue;
      }
      let id = m.id;
      if (m.kind === 'risk:blueprint') {
        // Graph names a risky blueprint principal by the principal's object id; the PDP keys by blueprint.
        const link = await store.get('blueprint-principal', tenant, m.id);
        const of = objectId(link);
        if (of === null) {
          rejected += 1;
          (desired.get('risk:blueprint') as Desired).complete = false;
          continue;
        }
        id = of;
      }
      (desired.get(m.kind) as Desired).records.set(id, m.record as unknown as Record<string, unknown>);
    }
    for (const [kind, d] of desired) await this.reconcileRisk(kind as 'risk:agent', d);
    return [items.length - rejected, rejected, 'listing'];
  }

  private async riskyUsers(): Promise<[number, number, 'listing']> {
    const { items } = await this.deps.graph.list(GRAPH_PATHS.riskyUsers);
    const d: Desired = { records: new Map(), complete: true, keep: new Set(), removed: new Set() };
    let rejected = 0;
    for (const item of items) {
      const m = mapRiskyUser(this.deps.validators, item);
      if (m.ok) d.records.set(m.id, m.record as unknown as Record<string, unknown>);
      else {
        rejected += 1;
        if (m.id === null) d.complete = false;
        else d.keep.add(m.id);
      }
    }
    await this.reconcileRisk('risk:user', d);
    return [items.length - rejected, rejected, 'listing'];
  }

  private async reconcileRisk(
    kind: 'risk:agent' | 'risk:agent-user' | 'risk:blueprint' | 'risk:user',
    d: Desired,
  ): Promise<void> {
    const { store, tenant } = this.deps;
    const index = syncedIndex(kind);
    const synced = new Set(await store.members(tenant, index));
    for (const [id, record] of d.records) {
      const old = await store.get(kind, tenant, id);
      if (
        old === null ||
        stable(old) !== stable(record) ||
        (old as { updated_at?: unknown }).updated_at !== record['updated_at']
      ) {
        this.guard();
        if (kind === 'risk:user') await store.put('risk:user', tenant, id, record as never);
        else
          await writeRisk(store, tenant, kind, id, record as never, {
            actor: GRAPH_ACTOR,
            at: this.deps.clock(),
            action: old === null ? 'create' : 'update',
            before: old,
          });
      }
      if (!synced.has(id)) await store.index(tenant, index, id, true);
    }
    for (const id of this.deletions(synced, d)) {
      this.guard();
      const old = await store.get(kind, tenant, id);
      await store.write(tenant, [{ kind, id, value: null }], this.audit(kind, id, 'delete', old, null));
      if (kind !== 'risk:user') await store.index(tenant, RISKY_INDEX, `${kind}|${id}`, false);
      await store.index(tenant, index, id, false);
    }
  }

  private deletions(synced: Set<string>, d: Desired): string[] {
    const out: string[] = [];
    for (const id of synced) {
      if (d.records.has(id) || d.keep.has(id)) continue;
      if (d.complete || d.removed.has(id)) out.push(id);
    }
    return out;
  }

  // ---- directory ----

  private async blueprints(): Promise<[number, number]> {
    const { graph, validators } = this.deps;
    const [apps, principals] = await Promise.all([
      graph.list(GRAPH_PATHS.agentIdentityBlueprints),
      graph.list(GRAPH_PATHS.agentIdentityBlueprintPrincipals),
    ]);
    const principalOf = new Map<string, unknown>();
    for (const p of principals.items) {
      const appId = own(p, 'appId');
      if (typeof appId === 'string') principalOf.set(appId, p);
    }
    const inheritable = await mapLimit(apps.items, this.deps.concurrency, async (app) => {
      const id = objectId(app);
      if (id === null) return [];
      const path = `applications/${encodeURIComponent(id)}/microsoft.graph.agentIdentityBlueprint/inheritablePermissions`;
      return (await graph.list(path)).items;
    });
    const d: Desired = { records: new Map(), complete: true, keep: new Set(), removed: new Set() };
    let rejected = 0;
    apps.items.forEach((app, i) => {
      const appId = own(app, 'appId');
      const m = mapBlueprint(
        validators,
        app,
        typeof appId === 'string' ? principalOf.get(appId) : undefined,
        inheritable[i] ?? [],
      );
      this.collect(d, m, () => (rejected += 1));
    });
    await this.reconcile('blueprint', d);
    return [apps.items.length - rejected, rejected];
  }

  private collect(d: Desired, m: Mapped<Record<string, unknown>>, reject: () => void): void {
    if (m.ok) {
      d.records.set(m.id, m.record);
      return;
    }
    reject();
    this.deps.logger.warn(
      { id: m.id, problem: m.problem },
      'Graph object not mapped: its record is kept as it was',
    );
    if (m.id === null) d.complete = false;
    else d.keep.add(m.id);
  }

  private mapDirectory(resource: DeltaResource, item: unknown): Mapped<Record<string, unknown>> {
    if (resource === 'agentUsers') return mapAgentUser(this.deps.validators, item);
    const sponsors = own(item, 'sponsors');
    return mapAgent(this.deps.validators, item, Array.isArray(sponsors) ? sponsors : []);
  }

  /** Agent identities or agent users: a full listing, or the changes since the stored delta link. */
  private async deltaResource(
    resource: DeltaResource,
    kind: CycleKind,
  ): Promise<[number, number, 'listing' | 'delta']> {
    const { graph, redis, tenant } = this.deps;
    const recordKind: RecordKind = resource === 'agentUsers' ? 'agent-user' : 'agent';
    const spec = DELTA[resource];
    const stored =
      kind === 'incremental' && this.deps.delta ? await redis.get(deltaKey(tenant, resource)) : null;
    const d: Desired = { records: new Map(), complete: false, keep: new Set(), removed: new Set() };
    let rejected = 0;
    let nextLink: string | null;
    let seen: number;
    if (stored === null) {
      // The link first: a change made while the listing runs is then in the next delta.
      nextLink = this.deps.delta ? (await graph.page(`${spec.delta}&$deltatoken=latest`)).deltaLink : null;
      const { items } = await graph.list(GRAPH_PATHS[resource]);
      for (const item of await this.withSponsors(resource, items)) {
        this.collect(d, this.mapDirectory(resource, item), () => (rejected += 1));
      }
      d.complete = true;
      seen = items.length;
    } else {
      const changed = new Set<string>();
      const { items, deltaLink } = await graph.list(stored);
      const synced = new Set(await this.deps.store.members(tenant, syncedIndex(recordKind)));
      for (const item of items) {
        const id = objectId(item);
        if (id === null) continue;
        if (own(item, '@removed') !== undefined) {
          if (synced.has(id)) d.removed.add(id);
        } else if (synced.has(id) || typeof own(item, spec.marker) === 'string') changed.add(id);
      }
      const fetched = await mapLimit([...changed], this.deps.concurrency, async (id) => {
        try {
          return { id, item: await graph.get(spec.get(id)) };
        } catch (err) {
          // Gone (or not of this type): a removal for an object the sync wrote.
          if (err instanceof GraphError && err.status === 404) return { id, item: null };
          throw err;
        }
      });
      for (const { id, item } of fetched) {
        if (item === null) {
          if (synced.has(id)) d.removed.add(id);
          continue;
        }
        const [whole] = await this.withSponsors(resource, [item]);
        this.collect(d, this.mapDirectory(resource, whole), () => (rejected += 1));
      }
      nextLink = deltaLink;
      seen = changed.size;
    }
    await this.reconcile(recordKind, d);
    // Only once every change is written: a failure above retries the same changes next cycle.
    if (nextLink !== null) await redis.set(deltaKey(tenant, resource), nextLink);
    else await redis.del(deltaKey(tenant, resource));
    return [seen - rejected, rejected, stored === null ? 'listing' : 'delta'];
  }

  /** Agent identities whose answer lacks `sponsors` (no `$expand`): read them per agent. */
  private async withSponsors(resource: DeltaResource, items: unknown[]): Promise<unknown[]> {
    if (resource !== 'agentIdentities') return items;
    return mapLimit(items, this.deps.concurrency, async (item) => {
      const id = objectId(item);
      if (id === null || Array.isArray(own(item, 'sponsors'))) return item;
      const path = `servicePrincipals/${encodeURIComponent(id)}/microsoft.graph.agentIdentity/sponsors?$select=id`;
      const sponsors = (await this.deps.graph.list(path)).items;
      return { ...(item as object), sponsors };
    });
  }

  /** The governance trail's entry for one synced write. */
  private audit(kind: RecordKind, id: string, action: string, before: unknown, after: unknown): AuditContext {
    return {
      actor: GRAPH_ACTOR,
      at: this.deps.clock(),
      changes: [
        { target: { type: kind, id }, action, agents: agentsOf(kind, id, before, after), before, after },
      ],
    };
  }

  /** Writes what changed (record and lookup links, one MULTI each, published), deletes what went. */
  private async reconcile(kind: RecordKind, d: Desired): Promise<void> {
    const { store, tenant } = this.deps;
    const index = syncedIndex(kind);
    const synced = new Set(await store.members(tenant, index));
    const stamp = this.iso();
    for (const [id, next] of d.records) {
      const old = await store.get(kind, tenant, id);
      if (!same(old === null ? null : { ...old, id }, next)) {
        this.guard();
        const record = { ...next, updated_at: stamp };
        await store.write(
          tenant,
          [{ kind, id, value: record }, ...recordLinks(kind, id, record), ...staleLinks(kind, old, record)],
          this.audit(kind, id, old === null ? 'create' : 'update', old, record),
        );
      }
      if (!synced.has(id)) await store.index(tenant, index, id, true);
    }
    for (const id of this.deletions(synced, d)) {
      this.guard();
      const old = await store.get(kind, tenant, id);
      await store.write(
        tenant,
        [{ kind, id, value: null }, ...staleLinks(kind, old, null)],
        this.audit(kind, id, 'delete', old, null),
      );
      await store.index(tenant, index, id, false);
    }
  }

  // ---- policies ----

  private async policies(state: SyncState): Promise<[number, number]> {
    const { graph, tenant, documents } = this.deps;
    const [policies, locations] = await Promise.all([
      graph.list(GRAPH_PATHS.conditionalAccessPolicies),
      graph.list(GRAPH_PATHS.namedLocations),
    ]);
    const set = { policies: policies.items, named_locations: locations.items };
    try {
      // The same validation as files: a set that would not load is refused whole.
      await this.deps.compiler.compile({}, null, new Map([[tenant, { ...set, source: `graph:${tenant}` }]]));
    } catch (err) {
      if (!(err instanceof PdpError)) throw err;
      state.policy_set.rejected = {
        at: this.iso(),
        message: err.message,
        details: err.details.slice(0, 100),
      };
      this.deps.logger.error(
        { details: err.details.slice(0, 20) },
        `Graph policy set rejected, the last good set keeps deciding: ${err.message}`,
      );
      throw err;
    }
    this.guard();
    const { hash, changed } = await documents.publish(tenant, set);
    state.policy_set = {
      hash,
      published_at: changed ? this.iso() : state.policy_set.published_at,
      policies: set.policies.length,
      named_locations: set.named_locations.length,
      rejected: null,
    };
    return [set.policies.length, set.named_locations.length];
  }
}

/** Lookup links the old record had and the new one no longer has. */
function staleLinks(kind: RecordKind, old: unknown, next: Record<string, unknown> | null): WriteOp[] {
  if (old === null || typeof old !== 'object') return [];
  const have = new Set(next === null ? [] : recordLinks(kind, '', next).map((l) => `${l.kind}|${l.id}`));
  return recordLinks(kind, '', old as Record<string, unknown>)
    .filter((l) => !have.has(`${l.kind}|${l.id}`))
    .map((l) => ({ kind: l.kind, id: l.id, value: null }));
}
