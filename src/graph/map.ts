/**
 * Microsoft Graph objects → the PDP's directory and risk records (src/store/types.ts), each
 * checked with the same validators as the directory API. Graph answers are input like any other:
 * an object that does not map cleanly is reported, never guessed at.
 */
import type { Validators } from '../decision/validators';
import { PdpError } from '../errors';
import type { AgentRiskRecord, RecordKind, UserRiskRecord } from '../store/types';
import { PRINCIPAL_ID_PATTERN } from '../vocabulary';

const ID = new RegExp(PRINCIPAL_ID_PATTERN);

export function own(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null && !Array.isArray(o) && Object.hasOwn(o, key)
    ? (o as Record<string, unknown>)[key]
    : undefined;
}
function str(o: unknown, key: string): string | null {
  const v = own(o, key);
  return typeof v === 'string' ? v : null;
}

/** An object id usable as a PDP id (Graph's are GUIDs), or null. */
export function objectId(o: unknown, key = 'id'): string | null {
  const id = str(o, key);
  return id !== null && ID.test(id) ? id : null;
}

/** A mapped record, or why the object could not be one. */
export type Mapped<T> =
  { ok: true; id: string; record: T } | { ok: false; id: string | null; problem: string };

function checked(
  validate: (body: unknown) => Record<string, unknown>,
  id: string,
  body: Record<string, unknown>,
): Mapped<Record<string, unknown>> {
  try {
    return { ok: true, id, record: { ...validate(body), id } };
  } catch (err) {
    const d = err instanceof PdpError ? err.details[0] : undefined;
    return { ok: false, id, problem: d === undefined ? String(err) : `${d.pointer} ${d.message}` };
  }
}

/** `customSecurityAttributes` as Graph sends it; absent or null → none. */
function attributes(o: unknown): Record<string, unknown> {
  const csa = own(o, 'customSecurityAttributes');
  return typeof csa === 'object' && csa !== null && !Array.isArray(csa)
    ? { custom_security_attributes: csa }
    : {};
}

/**
 * A blueprint from its application (`agentIdentityBlueprint`: the PDP's blueprint id is its
 * `appId`), its principal in this tenant (`agentIdentityBlueprintPrincipal`, matched by appId:
 * enabled, principal id, custom security attributes) and its inheritable permissions (only
 * `enumeratedScopes`; `allAllowedScopes` cannot be narrowed to scopes, so it grants nothing here).
 * No principal in the tenant: the blueprint is disabled.
 */
export function mapBlueprint(
  v: Validators,
  app: unknown,
  principal: unknown,
  inheritable: readonly unknown[],
): Mapped<Record<string, unknown>> {
  const id = objectId(app, 'appId');
  if (id === null) return { ok: false, id: null, problem: 'appId missing or not a usable id' };
  const permissions: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const p of inheritable) {
    const resource = str(p, 'resourceAppId');
    const scopes = own(p, 'inheritableScopes');
    if (resource === null || str(scopes, '@odata.type') !== '#microsoft.graph.enumeratedScopes') continue;
    const list = own(scopes, 'scopes');
    if (!Array.isArray(list)) continue;
    const prior = Object.hasOwn(permissions, resource) ? (permissions[resource] ?? []) : [];
    permissions[resource] = [
      ...new Set([...prior, ...list.filter((s): s is string => typeof s === 'string')]),
    ];
  }
  const principalId = principal === undefined ? null : objectId(principal);
  const name = str(app, 'displayName');
  return checked(v.blueprint, id, {
    ...(name !== null && { display_name: name }),
    enabled: principal !== undefined && own(principal, 'accountEnabled') !== false,
    permissions: { ...permissions },
    max_ttl_seconds: null,
    ...(principalId !== null && { principal_id: principalId }),
    attributes: {},
    ...attributes(principal),
  });
}

/** An agent identity (`servicePrincipals/microsoft.graph.agentIdentity`) with its sponsors' ids. */
export function mapAgent(
  v: Validators,
  sp: unknown,
  sponsors: readonly unknown[],
): Mapped<Record<string, unknown>> {
  const id = objectId(sp);
  if (id === null) return { ok: false, id: null, problem: 'id missing or not a usable id' };
  const blueprint = str(sp, 'agentIdentityBlueprintId');
  if (blueprint === null) return { ok: false, id, problem: '/agentIdentityBlueprintId is missing' };
  const name = str(sp, 'displayName');
  return checked(v.agent, id, {
    blueprint_id: blueprint,
    ...(name !== null && { display_name: name }),
    // accountEnabled absent reads as disabled: an agent is enabled only when Graph says so.
    enabled: own(sp, 'accountEnabled') === true,
    sponsors: [...new Set(sponsors.map((s) => objectId(s)).filter((s): s is string => s !== null))],
    attributes: {},
    ...attributes(sp),
  });
}

/** An agent user (`users/microsoft.graph.agentUser`), linked to its agent identity by `identityParentId`. */
export function mapAgentUser(v: Validators, user: unknown): Mapped<Record<string, unknown>> {
  const id = objectId(user);
  if (id === null) return { ok: false, id: null, problem: 'id missing or not a usable id' };
  const parent = str(user, 'identityParentId');
  if (parent === null) return { ok: false, id, problem: '/identityParentId is missing' };
  const name = str(user, 'displayName');
  return checked(v.agentUser, id, {
    agent_id: parent,
    ...(name !== null && { display_name: name }),
    enabled: own(user, 'accountEnabled') === true,
    ...attributes(user),
  });
}

const RISK_KIND: ReadonlyMap<string, 'risk:agent' | 'risk:agent-user' | 'risk:blueprint'> = new Map([
  ['#microsoft.graph.riskyAgentIdentity', 'risk:agent'],
  ['#microsoft.graph.riskyAgentUser', 'risk:agent-user'],
  ['#microsoft.graph.riskyAgentIdentityBlueprintPrincipal', 'risk:blueprint'],
]);
const CLOSED = new Set(['confirmedSafe', 'dismissed', 'remediated']);
const STATES = new Set([
  'none',
  'atRisk',
  'confirmedCompromised',
  'confirmedSafe',
  'dismissed',
  'remediated',
]);

/**
 * Graph riskLevel → the PDP's: `hidden` (the tenant's license does not show it) and any value
 * this version does not know count as high, so an unknown never lowers risk.
 */
function level(o: unknown): AgentRiskRecord['level'] {
  const l = str(o, 'riskLevel');
  return l === 'none' || l === 'low' || l === 'medium' || l === 'high' ? l : 'high';
}

/** A risky agent: which risk record it is (by `@odata.type`), and the record. */
export function mapRiskyAgent(v: Validators, o: unknown): Mapped<AgentRiskRecord> & { kind?: RecordKind } {
  const id = objectId(o);
  if (id === null) return { ok: false, id: null, problem: 'id missing or not a usable id' };
  const type = str(o, '@odata.type') ?? '';
  const kind = RISK_KIND.get(type);
  if (kind === undefined)
    return { ok: false, id, problem: `/@odata.type ${JSON.stringify(type)} is not a risky agent type` };
  const rawState = str(o, 'riskState') ?? 'atRisk';
  const state = STATES.has(rawState) ? rawState : 'atRisk';
  // Graph's state decides: a closed state carries no risk, a confirmed compromise is high.
  const lvl = CLOSED.has(state) ? 'none' : state === 'confirmedCompromised' ? 'high' : level(o);
  const detail = str(o, 'riskDetail');
  const updated = str(o, 'riskLastUpdatedDateTime');
  const mapped = checked(v.agentRisk, id, { level: lvl, state });
  if (!mapped.ok) return { ok: false, id, problem: mapped.problem };
  const record: AgentRiskRecord = {
    level: lvl,
    state,
    ...(detail !== null && detail !== 'none' && { risk_detail: detail }),
    ...(updated !== null && { updated_at: updated }),
  };
  return { ok: true, id, record, kind };
}

/** A risky user (`identityProtection/riskyUsers`). */
export function mapRiskyUser(v: Validators, o: unknown): Mapped<UserRiskRecord> {
  const id = objectId(o);
  if (id === null) return { ok: false, id: null, problem: 'id missing or not a usable id' };
  const state = str(o, 'riskState');
  const lvl =
    state !== null && CLOSED.has(state) ? 'none' : state === 'confirmedCompromised' ? 'high' : level(o);
  const mapped = checked(v.userRisk, id, { level: lvl });
  if (!mapped.ok) return { ok: false, id, problem: mapped.problem };
  const updated = str(o, 'riskLastUpdatedDateTime');
  return { ok: true, id, record: { level: lvl, ...(updated !== null && { updated_at: updated }) } };
}
