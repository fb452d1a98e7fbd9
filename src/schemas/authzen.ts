/**
 * JSON Schemas of the OpenID AuthZEN Authorization API 1.0 bodies (DESIGN §3, "Gateway").
 *
 * The subject is an agent, the resource id is the resource audience, the action name is one scope,
 * and the context carries the decide fields (tenant, flow, user, client, requested_ttl_seconds,
 * blueprint_id) in the same shapes as the decide body: those pieces are taken from
 * `decideRequestSchema`, not copied. Unknown members are ignored, as the specification asks
 * (forward compatibility); context members other than the decide fields travel on as the decide
 * request's free-form `context`.
 */
import type { Flow } from '../vocabulary';
import { MAX_BATCH, decideRequestSchema, type DecideRequest } from './requests';

const decide = decideRequestSchema.properties;

/** `properties` of a subject, resource or action (spec §5): any JSON object. */
const entityProperties = { type: 'object' } as const;

export const authzenSubjectSchema = {
  type: 'object',
  required: ['type', 'id'],
  properties: {
    type: { enum: ['agent'] },
    id: decide.agent_id,
    properties: entityProperties,
  },
} as const;

export const authzenResourceSchema = {
  type: 'object',
  required: ['type', 'id'],
  properties: {
    type: { type: 'string', minLength: 1, maxLength: 128 },
    // The resource audience, e.g. api://payments.
    id: decide.resource,
    properties: entityProperties,
  },
} as const;

export const authzenActionSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    // One scope, e.g. payments.read.
    name: decide.scopes.items,
    properties: entityProperties,
  },
} as const;

/** The decide fields AuthZEN's context may carry; `flow` defaults to `autonomous`. */
export const AUTHZEN_CONTEXT_FIELDS = [
  'tenant',
  'flow',
  'user',
  'client',
  'requested_ttl_seconds',
  'blueprint_id',
  'scope',
] as const;

/** An OAuth scope-token (RFC 6749 §3.3), at most as long as a decide scope. */
const SCOPE_TOKEN = '[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,256}';

export const authzenContextSchema = {
  type: 'object',
  properties: {
    tenant: decide.tenant,
    flow: decide.flow,
    user: decide.user,
    client: decide.client,
    requested_ttl_seconds: decide.requested_ttl_seconds,
    blueprint_id: decide.blueprint_id,
    // A token request's requested scopes, space-delimited as OAuth's `scope` parameter (token
    // issuance): the answer then carries the narrowed grant (granted_scope, token_lifetime).
    scope: {
      type: 'string',
      maxLength: 25_800,
      pattern: `^${SCOPE_TOKEN}( ${SCOPE_TOKEN}){0,${decide.scopes.maxItems - 1}}$`,
    },
  },
  // on_behalf_of and agent_user need a user, exactly as in the decide body.
  if: decideRequestSchema.if,
  then: decideRequestSchema.then,
} as const;

/** Access Evaluation API request (spec §6.1): the 4-tuple. */
export const authzenEvaluationRequestSchema = {
  $id: 'https://agent-pdp.dev/schemas/authzen-evaluation-request.json',
  type: 'object',
  required: ['subject', 'action', 'resource'],
  properties: {
    subject: authzenSubjectSchema,
    action: authzenActionSchema,
    resource: authzenResourceSchema,
    context: authzenContextSchema,
  },
} as const;

export const EVALUATIONS_SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;
export type EvaluationsSemantic = (typeof EVALUATIONS_SEMANTICS)[number];

/**
 * Access Evaluations API request (spec §7.1): only the envelope. The top-level 4-tuple members are
 * defaults (§7.1.1) and each item is checked with `authzenEvaluationRequestSchema` once merged, so
 * one bad item answers `decision: false` in its slot instead of failing the batch.
 */
export const authzenEvaluationsRequestSchema = {
  $id: 'https://agent-pdp.dev/schemas/authzen-evaluations-request.json',
  type: 'object',
  properties: {
    subject: { type: 'object' },
    action: { type: 'object' },
    resource: { type: 'object' },
    context: { type: 'object' },
    evaluations: { type: 'array', maxItems: MAX_BATCH },
    options: {
      type: 'object',
      properties: { evaluations_semantic: { enum: EVALUATIONS_SEMANTICS } },
    },
  },
} as const;

type Properties = Record<string, unknown>;

export interface AuthzenSubject {
  type: 'agent';
  id: string;
  properties?: Properties;
}

export interface AuthzenResource {
  type: string;
  id: string;
  properties?: Properties;
}

export interface AuthzenAction {
  name: string;
  properties?: Properties;
}

export interface AuthzenContext {
  tenant?: string;
  flow?: Flow;
  user?: DecideRequest['user'];
  client?: DecideRequest['client'];
  requested_ttl_seconds?: number;
  blueprint_id?: string;
  scope?: string;
  [member: string]: unknown;
}

export interface AuthzenEvaluationRequest {
  subject: AuthzenSubject;
  action: AuthzenAction;
  resource: AuthzenResource;
  context?: AuthzenContext;
}

export interface AuthzenEvaluationsRequest {
  subject?: Properties;
  action?: Properties;
  resource?: Properties;
  context?: Properties;
  evaluations?: unknown[];
  options?: { evaluations_semantic?: EvaluationsSemantic; [option: string]: unknown };
  [member: string]: unknown;
}
