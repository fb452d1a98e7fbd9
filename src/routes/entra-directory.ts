import type { RequestHandler, Response, Router } from 'express';
import { callerName } from '../auth/caller-auth';
import type { Validators } from '../decision/validators';
import { PdpError } from '../errors';
import { TENANT_PATTERN as TENANT_ID_PATTERN } from '../vocabulary';
import { recordLinks } from '../store/links';
import type { AgentRiskRecord, RecordKind, SignalStore, WriteOp } from '../store/types';

type Params = (req: Parameters<RequestHandler>[0]) => { tenant: string; id: string };
const TENANT = new RegExp(TENANT_ID_PATTERN);

function tenantOf(req: Parameters<RequestHandler>[0]): string {
  const tenant = String(req.params['tenant']);
  if (!TENANT.test(tenant)) {
    throw new PdpError('invalid_request', 'The request path is invalid', [
      { pointer: '/tenant', message: `path parameter must match ${TENANT_ID_PATTERN}`, keyword: 'path' },
    ]);
  }
  return tenant;
}

/** An object's own string member, or null (stored values are not trusted to have one). */
function own(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}
function ownString(value: unknown, name: string): string | null {
  const v = own(value, name);
  return typeof v === 'string' ? v : null;
}
function ownStrings(value: unknown, name: string): string[] {
  const v = own(value, name);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The per-tenant set of risk records at risk, listed by GET risky-agents (no SCAN). */
export const RISKY_INDEX = 'risky-agents';
type RiskKind = 'risk:agent' | 'risk:agent-user' | 'risk:blueprint';
const ODATA_TYPE: Readonly<Record<RiskKind, string>> = {
  'risk:agent': '#microsoft.graph.riskyAgentIdentity',
  'risk:agent-user': '#microsoft.graph.riskyAgentUser',
  'risk:blueprint': '#microsoft.graph.riskyAgentIdentityBlueprintPrincipal',
};
const RISK_KINDS: readonly RiskKind[] = ['risk:agent', 'risk:agent-user', 'risk:blueprint'];

/** At risk as ID Protection lists it: some level, and a state that is still open. */
export function atRisk(record: unknown): boolean {
  const level = ownString(record, 'level');
  const state = ownString(record, 'state') ?? 'atRisk';
  return level !== null && level !== 'none' && (state === 'atRisk' || state === 'confirmedCompromised');
}

/** Who changes a risk record, and why: the trail's entry for the write. */
export interface RiskChange {
  actor: string;
  at: number;
  action: string;
  /** The prior record, when the caller has read it (else it is read here). */
  before?: AgentRiskRecord | null;
  reason?: string;
}

/** The agents a record of `kind` concerns, for the governance trail's per-agent query. */
export function agentsOf(kind: string, id: string, ...records: unknown[]): string[] {
  if (kind === 'agent' || kind === 'risk:agent' || kind === 'revoked:agent') return [id];
  if (kind === 'agent-user' || kind === 'risk:agent-user')
    return [...new Set(records.map((r) => ownString(r, 'agent_id')).filter((a): a is string => a !== null))];
  return [];
}

/** The caller, as the governance trail names the actor. */
export function actorOf(res: Response): string {
  return callerName(res) ?? 'anonymous';
}

/** Writes a risk record (with its governance trail entry) and keeps the risky index in step with it. */
export async function writeRisk(
  store: SignalStore,
  tenant: string,
  kind: RiskKind,
  id: string,
  record: AgentRiskRecord,
  change: RiskChange,
): Promise<void> {
  const before = change.before !== undefined ? change.before : await store.get(kind, tenant, id);
  const agentUser = kind === 'risk:agent-user' ? await store.get('agent-user', tenant, id) : null;
  await store.write(tenant, [{ kind, id, value: record }], {
    actor: change.actor,
    at: change.at,
    changes: [
      {
        target: { type: kind, id },
        action: change.action,
        agents: agentsOf(kind, id, agentUser),
        before,
        after: record,
        ...(change.reason !== undefined && { reason: change.reason }),
      },
    ],
  });
  await store.index(tenant, RISKY_INDEX, `${kind}|${id}`, atRisk(record));
}

const ACTIONS = {
  confirmCompromised: {
    level: 'high',
    state: 'confirmedCompromised',
    detail: 'adminConfirmedAgentCompromised',
  },
  confirmSafe: { level: 'none', state: 'confirmedSafe', detail: 'adminConfirmedAgentSafe' },
  dismiss: { level: 'none', state: 'dismissed', detail: 'adminDismissedRiskForAgent' },
} as const;

/**
 * Entra Agent ID directory: agent users (1:1 with an agent), registered resources (unique
 * identifier URIs), blueprint principals, and ID Protection's risky-agents actions and listing.
 * Uniqueness is checked before the write (read, then one MULTI): two concurrent writers of the
 * same name can both pass the check; the last write wins the link.
 */
export function entraDirectoryRoutes(
  router: Router,
  store: SignalStore,
  validators: Validators,
  admin: RequestHandler,
  params: Params,
  clock: () => number,
): void {
  const notFound = (kind: string, id: string, tenant: string): PdpError =>
    new PdpError('not_found', `No ${kind} record for ${id} in tenant ${tenant}`);

  const crud = (
    route: string,
    kind: RecordKind,
    validate: (body: unknown) => Record<string, unknown>,
    links: (
      tenant: string,
      id: string,
      next: Record<string, unknown> | null,
      old: unknown,
    ) => Promise<WriteOp[]>,
  ): void => {
    const path = `/v1/tenants/:tenant/${route}`;
    router.put(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const at = clock();
      const record = { ...validate(req.body), id, updated_at: new Date(at).toISOString() };
      const old = await store.get(kind, tenant, id);
      const ops = await links(tenant, id, record, old);
      await store.write(tenant, [{ kind, id, value: record }, ...ops], {
        actor: actorOf(res),
        at,
        changes: [
          {
            target: { type: kind, id },
            action: old === null ? 'create' : 'update',
            agents: agentsOf(kind, id, old, record),
            before: old,
            after: record,
          },
        ],
      });
      res.json(record);
    });
    router.get(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const record = await store.get(kind, tenant, id);
      if (record === null) throw notFound(kind, id, tenant);
      res.json(record);
    });
    router.delete(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const old = await store.get(kind, tenant, id);
      if (old === null) throw notFound(kind, id, tenant);
      const ops = await links(tenant, id, null, old);
      await store.write(tenant, [{ kind, id, value: null }, ...ops], {
        actor: actorOf(res),
        at: clock(),
        changes: [
          {
            target: { type: kind, id },
            action: 'delete',
            agents: agentsOf(kind, id, old),
            before: old,
            after: null,
          },
        ],
      });
      res.status(204).end();
    });
  };

  crud('blueprints/:id', 'blueprint', validators.blueprint, async (tenant, id, next, old) => {
    const ops: WriteOp[] = [];
    const before = ownString(old, 'principal_id');
    const after = next === null ? null : ownString(next, 'principal_id');
    if (after !== null) {
      const link = await store.get('blueprint-principal', tenant, after);
      const holder = ownString(link, 'id');
      if (holder !== null && holder !== id) {
        throw new PdpError('principal_id_conflict', `Principal ${after} belongs to blueprint ${holder}`, [
          {
            pointer: '/principal_id',
            message: `already the principal of blueprint ${holder}`,
            keyword: 'unique',
          },
        ]);
      }
    }
    if (next !== null) ops.push(...recordLinks('blueprint', id, next));
    if (before !== null && before !== after)
      ops.push({ kind: 'blueprint-principal', id: before, value: null });
    if (next !== null) next['attributes'] ??= {};
    return ops;
  });

  crud('agent-users/:id', 'agent-user', validators.agentUser, async (tenant, id, next, old) => {
    const ops: WriteOp[] = [];
    const before = ownString(old, 'agent_id');
    const after = next === null ? null : ownString(next, 'agent_id');
    if (after !== null) {
      const holder = ownString(await store.get('agent-user-of', tenant, after), 'id');
      if (holder !== null && holder !== id) {
        throw new PdpError('agent_user_conflict', `Agent ${after} already has agent user ${holder}`, [
          { pointer: '/agent_id', message: `agent already has agent user ${holder}`, keyword: 'unique' },
        ]);
      }
    }
    if (next !== null) ops.push(...recordLinks('agent-user', id, next));
    if (before !== null && before !== after) ops.push({ kind: 'agent-user-of', id: before, value: null });
    return ops;
  });

  crud('resources/:id', 'resource', validators.resource, async (tenant, id, next, old) => {
    const ops: WriteOp[] = [];
    const after = next === null ? [] : ownStrings(next, 'identifier_uris');
    const holders = await Promise.all(after.map((uri) => store.get('resource-uri', tenant, uri)));
    const conflicts = after.flatMap((_uri, i) => {
      const holder = ownString(holders[i], 'id');
      return holder !== null && holder !== id
        ? [
            {
              pointer: `/identifier_uris/${i}`,
              message: `already an identifier URI of resource ${holder}`,
              keyword: 'unique',
            },
          ]
        : [];
    });
    if (conflicts.length > 0) {
      throw new PdpError(
        'identifier_uri_conflict',
        'An identifier URI belongs to another resource',
        conflicts,
      );
    }
    if (next !== null) ops.push(...recordLinks('resource', id, next));
    for (const uri of ownStrings(old, 'identifier_uris')) {
      if (!after.includes(uri)) ops.push({ kind: 'resource-uri', id: uri, value: null });
    }
    return ops;
  });

  // Risk of agent users and blueprints, as signals/agents/{id}/risk is for agents.
  const riskRoute = (route: string, kind: RiskKind): void => {
    const path = `/v1/tenants/:tenant/signals/${route}/:id/risk`;
    router.put(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const at = clock();
      const record = {
        ...validators.agentRisk(req.body),
        updated_at: new Date(at).toISOString(),
      } as unknown as AgentRiskRecord;
      await writeRisk(store, tenant, kind, id, record, { actor: actorOf(res), at, action: 'update' });
      res.json(record);
    });
    router.get(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const record = await store.get(kind, tenant, id);
      if (record === null) throw notFound(kind, id, tenant);
      res.json(record);
    });
    router.delete(path, admin, async (req, res) => {
      const { tenant, id } = params(req);
      const old = await store.get(kind, tenant, id);
      if (old === null) throw notFound(kind, id, tenant);
      const agentUser = kind === 'risk:agent-user' ? await store.get('agent-user', tenant, id) : null;
      await store.write(tenant, [{ kind, id, value: null }], {
        actor: actorOf(res),
        at: clock(),
        changes: [
          {
            target: { type: kind, id },
            action: 'delete',
            agents: agentsOf(kind, id, agentUser),
            before: old,
            after: null,
          },
        ],
      });
      await store.index(tenant, RISKY_INDEX, `${kind}|${id}`, false);
      res.status(204).end();
    });
  };
  riskRoute('agents', 'risk:agent');
  riskRoute('agent-users', 'risk:agent-user');
  riskRoute('blueprints', 'risk:blueprint');

  /** Which risk record an id of riskyAgents names: an agent, an agent user, a blueprint or its principal. */
  const resolveRisk = async (tenant: string, id: string): Promise<{ kind: RiskKind; id: string } | null> => {
    const [agent, agentUser, blueprint, principal] = await Promise.all([
      store.get('agent', tenant, id),
      store.get('agent-user', tenant, id),
      store.get('blueprint', tenant, id),
      store.get('blueprint-principal', tenant, id),
    ]);
    if (agent !== null) return { kind: 'risk:agent', id };
    if (agentUser !== null) return { kind: 'risk:agent-user', id };
    if (blueprint !== null) return { kind: 'risk:blueprint', id };
    const of = ownString(principal, 'id');
    return of === null ? null : { kind: 'risk:blueprint', id: of };
  };

  for (const [action, outcome] of Object.entries(ACTIONS)) {
    router.post(`/v1/tenants/:tenant/risky-agents/${action}`, admin, async (req, res) => {
      const tenant = tenantOf(req);
      const { agentIds } = validators.riskyAgentsAction(req.body);
      const targets = await Promise.all(agentIds.map((id) => resolveRisk(tenant, id)));
      const unknown = agentIds.flatMap((id, i) =>
        targets[i] === null
          ? [
              {
                pointer: `/agentIds/${i}`,
                message: `no agent, agent user or blueprint ${id}`,
                keyword: 'exists',
              },
            ]
          : [],
      );
      // All or nothing: an unknown id refuses the whole action before anything is written.
      if (unknown.length > 0)
        throw new PdpError('not_found', 'Some agentIds are not in the directory', unknown);
      const at = clock();
      const now = new Date(at).toISOString();
      for (const target of targets) {
        if (target === null) continue;
        const prior = await store.get(target.kind, tenant, target.id);
        const detections = Array.isArray(prior?.detections) ? prior.detections : [];
        await writeRisk(
          store,
          tenant,
          target.kind,
          target.id,
          {
            level: outcome.level,
            state: outcome.state,
            risk_detail: outcome.detail,
            detections:
              outcome.state === 'confirmedCompromised'
                ? [...detections, outcome.detail].slice(-100)
                : detections,
            updated_at: now,
          },
          { actor: actorOf(res), at, action, before: prior },
        );
      }
      res.status(204).end();
    });
  }

  router.get('/v1/tenants/:tenant/risky-agents', admin, async (req, res) => {
    const tenant = tenantOf(req);
    const members = (await store.members(tenant, RISKY_INDEX)).sort();
    const value = [];
    for (const member of members) {
      const bar = member.indexOf('|');
      const kind = member.slice(0, bar) as RiskKind;
      const id = member.slice(bar + 1);
      if (!RISK_KINDS.includes(kind)) continue;
      const record = await store.get(kind, tenant, id);
      if (record === null || !atRisk(record)) continue;
      // Graph names a risky blueprint principal by the principal's object id; the blueprint id rides along.
      const blueprint = kind === 'risk:blueprint' ? await store.get('blueprint', tenant, id) : null;
      const principal = ownString(blueprint, 'principal_id');
      value.push({
        '@odata.type': ODATA_TYPE[kind],
        id: principal ?? id,
        ...(kind === 'risk:blueprint' && { blueprintId: id }),
        riskLevel: record.level,
        riskState: record.state ?? 'atRisk',
        ...(record.risk_detail !== undefined && { riskDetail: record.risk_detail }),
        riskLastUpdatedDateTime: record.updated_at ?? null,
      });
    }
    res.json({ value });
  });
}
