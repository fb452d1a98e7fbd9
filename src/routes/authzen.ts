import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { callerName, type CallerAuth } from '../auth/caller-auth';
import type { TokenDecision } from '../decision/run';
import type { DecisionContext, DecisionService, Reason } from '../decision/service';
import { PdpError, isPdpError, toErrorBody, type ErrorDetail } from '../errors';
import { createAjv, toDetails } from '../schemas/ajv';
import {
  AUTHZEN_CONTEXT_FIELDS,
  authzenEvaluationRequestSchema,
  authzenEvaluationsRequestSchema,
  type AuthzenEvaluationRequest,
  type AuthzenEvaluationsRequest,
  type EvaluationsSemantic,
} from '../schemas/authzen';
import { freeFormViolation } from '../schemas/json-shape';
import { SEARCH_PATHS, type AuthzenSearch } from './authzen-search';
import { MAX_CONTEXT_BYTES, MAX_CONTEXT_DEPTH, type DecideRequest } from '../schemas/requests';

/**
 * OpenID AuthZEN Authorization API 1.0 (DESIGN §3, "Gateway"): the Access Evaluation and Access
 * Evaluations APIs (spec §6, §7) on the decide path, and the PDP metadata document (spec §9).
 */

export interface AuthzenOptions {
  /**
   * The PDP identifier published in the metadata (PDP_PUBLIC_BASE_URL, or derived from the
   * configured host, port and TLS). Never taken from the request: a reflected Host header would
   * let anyone who can reach the PDP, or poison a cache in front of it, publish their endpoints.
   */
  baseUrl: string;
}

export const EVALUATION_PATH = '/access/v1/evaluation';
export const EVALUATIONS_PATH = '/access/v1/evaluations';
export const METADATA_PATH = '/.well-known/authzen-configuration';

/** Decision context (spec §5.5.1, "any JSON object"); the reasons go under `reason_admin`. */
export interface AuthzenDecisionContext {
  decision_id?: string;
  /** A Reason Field: language tag → text. Meant for administrators, not for end users. */
  reason_admin?: Record<string, string>;
  /** The decide reasons, machine-readable (stable codes). */
  reasons?: Reason[];
  /** Grant controls the caller could satisfy and retry with (step-up), as in decide. */
  required_controls?: string[];
  /**
   * A token request's grant (context `scope` given, permit only): the scopes granted,
   * space-delimited as OAuth's `scope`, and the token's lifetime in seconds.
   */
  granted_scope?: string;
  token_lifetime?: number;
  /** An evaluation of a batch that could not be evaluated (spec §7.2.1). */
  error?: { status: number; code: string; message: string; details: readonly ErrorDetail[] };
}

export interface AuthzenDecision {
  decision: boolean;
  context: AuthzenDecisionContext;
}

type Json = Record<string, unknown>;
/** Maps a pointer into the evaluated 4-tuple onto a pointer into the request body. */
type PointerMap = (pointer: string) => string;

const TUPLE = ['subject', 'action', 'resource', 'context'] as const;
/** Identifiers an item's entity inherits from the default entity when it omits them (see `merge`). */
const IDENTIFIERS: Readonly<Record<string, readonly string[]>> = {
  subject: ['type', 'id'],
  action: ['name'],
  resource: ['type', 'id'],
};
/** Visible ASCII and spaces: what can be echoed in a response header as it came. */
const REQUEST_ID = /^[\x20-\x7e]{1,1024}$/;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const identity: PointerMap = (pointer) => pointer;

/** Spec, HTTPS binding, "Request Identification": a response echoes the caller's `X-Request-ID`. */
const echoRequestId: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  const id = requestIdToEcho(req.headers['x-request-id']);
  if (id !== undefined) res.setHeader('X-Request-ID', id);
  next();
};

function invalid(message: string, details: ErrorDetail[], at: PointerMap): PdpError {
  return new PdpError(
    'invalid_request',
    message,
    details.map((d) => ({ ...d, pointer: at(d.pointer) })),
  );
}

/**
 * Spec §7.1.1: a member given in an item takes precedence over the top-level default. A given
 * entity replaces the default entity as a whole, except that identifiers it omits (`type`, `id`,
 * `name`) fall back to the default's (the certification scenario's reading, test 3.2.7). The
 * context is replaced as a whole.
 */
function merge(defaults: AuthzenEvaluationsRequest, item: Json): Json {
  const merged: Json = {};
  for (const key of TUPLE) {
    const own = item[key];
    const fallback = defaults[key];
    if (own === undefined) {
      if (fallback !== undefined) merged[key] = fallback;
    } else if (key !== 'context' && isObject(own) && isObject(fallback)) {
      const entity: Json = { ...own };
      for (const id of IDENTIFIERS[key] ?? []) {
        if (entity[id] === undefined && fallback[id] !== undefined) entity[id] = fallback[id];
      }
      merged[key] = entity;
    } else {
      merged[key] = own;
    }
  }
  return merged;
}

/** Points an error at the item, or at the top-level default its value came from. */
function origin(defaults: AuthzenEvaluationsRequest, item: Json, index: number): PointerMap {
  const prefix = `/evaluations/${index}`;
  return (pointer) => {
    const [, key, member] = pointer.split('/');
    if (key === undefined || !(TUPLE as readonly string[]).includes(key)) return prefix + pointer;
    const own = item[key];
    const fallback = defaults[key];
    const fromDefault =
      own === undefined
        ? fallback !== undefined
        : member !== undefined &&
          (IDENTIFIERS[key] ?? []).includes(member) &&
          isObject(own) &&
          own[member] === undefined &&
          isObject(fallback) &&
          fallback[member] !== undefined;
    return fromDefault ? pointer : prefix + pointer;
  };
}

/**
 * subject.id → agent_id, resource.id → resource (the audience), action.name → the one scope; the
 * decide fields of the context keep their names, and every other context member becomes the
 * decide request's free-form `context` (≤ 4 KiB, `input.request.context` in Rego).
 */
function toDecideRequest(evaluation: AuthzenEvaluationRequest, at: PointerMap): DecideRequest {
  const {
    tenant,
    flow,
    user,
    client,
    requested_ttl_seconds: ttl,
    blueprint_id: blueprintId,
    scope,
    ...rest
  } = evaluation.context ?? {};
  const request: DecideRequest = {
    flow: flow ?? 'autonomous',
    agent_id: evaluation.subject.id,
    resource: evaluation.resource.id,
    // A token request asks for its `scope`; any other evaluation for the action's one scope.
    scopes: scope === undefined ? [evaluation.action.name] : [...new Set(scope.split(' '))],
  };
  if (tenant !== undefined) request.tenant = tenant;
  if (blueprintId !== undefined) request.blueprint_id = blueprintId;
  if (ttl !== undefined) request.requested_ttl_seconds = ttl;
  if (user !== undefined) request.user = user;
  if (client !== undefined) request.client = client;
  if (Object.keys(rest).length > 0) {
    // The depth first: measuring the size (JSON.stringify) of a deeper value could overflow.
    const violation = freeFormViolation(rest, '/context', {
      maxDepth: MAX_CONTEXT_DEPTH,
      maxBytes: MAX_CONTEXT_BYTES,
    });
    if (violation !== null) {
      const message =
        violation.keyword === 'maxBytes'
          ? `members other than ${AUTHZEN_CONTEXT_FIELDS.join(', ')} must be at most ${MAX_CONTEXT_BYTES} bytes of JSON`
          : violation.message;
      throw invalid('The request body is invalid', [{ ...violation, message }], at);
    }
    request.context = rest;
  }
  return request;
}

function decisionContext(out: TokenDecision, tokenRequest: boolean): AuthzenDecisionContext {
  const context: AuthzenDecisionContext = { decision_id: out.decision_id };
  if (tokenRequest && out.grant !== null) {
    context.granted_scope = out.grant.scopes.join(' ');
    context.token_lifetime = out.grant.ttl_seconds;
  }
  if (out.reasons.length > 0) {
    context.reason_admin = { en: out.reasons.map((r) => r.message).join(' ') };
    context.reasons = out.reasons;
  }
  if (out.required_controls.length > 0) context.required_controls = out.required_controls;
  return context;
}

/** Spec §7.1.2: `deny_on_first_deny` stops after the first deny (or failed item), `permit_on_first_permit` after the first permit. */
function decides(semantic: EvaluationsSemantic, decision: boolean): boolean {
  return (
    (semantic === 'deny_on_first_deny' && !decision) || (semantic === 'permit_on_first_permit' && decision)
  );
}

/** The Access Evaluation and Access Evaluations APIs, as functions of a parsed body; shared by the express routes and the hot routes. */
export interface AuthzenEvaluator {
  /** Spec §6: one evaluation; throws PdpError for an invalid body. */
  evaluation(body: unknown, ctx: DecisionContext): Promise<AuthzenDecision>;
  /** Spec §7: a batch, or a single evaluation when it has none. */
  evaluations(
    body: unknown,
    ctx: DecisionContext,
  ): Promise<AuthzenDecision | { evaluations: AuthzenDecision[] }>;
}

export function authzenEvaluator(decisions: DecisionService): AuthzenEvaluator {
  // Compiled once per app, like every other request schema.
  const ajv = createAjv();
  const validateEvaluation = ajv.compile<AuthzenEvaluationRequest>(authzenEvaluationRequestSchema);
  const validateEvaluations = ajv.compile<AuthzenEvaluationsRequest>(authzenEvaluationsRequestSchema);

  async function evaluate(
    body: unknown,
    at: PointerMap,
    message: string,
    ctx: DecisionContext,
  ): Promise<AuthzenDecision> {
    if (!validateEvaluation(body)) throw invalid(message, toDetails(validateEvaluation.errors), at);
    const out = await decisions.decide(toDecideRequest(body, at), ctx);
    // Fail closed: only an allow is a permit.
    return {
      decision: out.decision === 'allow',
      context: decisionContext(out, body.context?.scope !== undefined),
    };
  }

  /** Spec §7.2.1: an item that cannot be evaluated is a deny carrying its error; 5xx still fail the call. */
  async function evaluateItem(
    defaults: AuthzenEvaluationsRequest,
    item: unknown,
    index: number,
    ctx: DecisionContext,
  ): Promise<AuthzenDecision> {
    try {
      if (!isObject(item)) {
        throw new PdpError('invalid_request', 'The evaluation is invalid', [
          { pointer: `/evaluations/${index}`, message: 'must be object', keyword: 'type' },
        ]);
      }
      return await evaluate(
        merge(defaults, item),
        origin(defaults, item, index),
        'The evaluation is invalid',
        ctx,
      );
    } catch (err) {
      if (!isPdpError(err) || err.status >= 500) throw err;
      return { decision: false, context: { error: { status: err.status, ...toErrorBody(err).error } } };
    }
  }

  async function evaluations(
    request: unknown,
    ctx: DecisionContext,
  ): Promise<AuthzenDecision | { evaluations: AuthzenDecision[] }> {
    if (!validateEvaluations(request)) {
      throw invalid('The request body is invalid', toDetails(validateEvaluations.errors), identity);
    }
    const items = request.evaluations ?? [];
    // Spec §7.1: without evaluations the call is a single Access Evaluation, and answers like one.
    if (items.length === 0) return evaluate(request, identity, 'The request body is invalid', ctx);
    const semantic = request.options?.evaluations_semantic ?? 'execute_all';
    if (semantic === 'execute_all') {
      return { evaluations: await Promise.all(items.map((item, i) => evaluateItem(request, item, i, ctx))) };
    }
    // Short-circuit: in order, up to and including the deciding evaluation.
    const results: AuthzenDecision[] = [];
    for (const [i, item] of items.entries()) {
      const result = await evaluateItem(request, item, i, ctx);
      results.push(result);
      if (decides(semantic, result.decision)) break;
    }
    // Spec §7.2: the top-level decision is omitted when evaluations are returned.
    return { evaluations: results };
  }

  return {
    evaluation: (body, ctx) => evaluate(body, identity, 'The request body is invalid', ctx),
    evaluations,
  };
}

/** Spec, HTTPS binding, "Request Identification": the caller's `X-Request-ID`, when it can be echoed as it came. */
export function requestIdToEcho(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

export function authzenRoutes(
  evaluator: AuthzenEvaluator,
  search: AuthzenSearch,
  auth: CallerAuth,
  opts: AuthzenOptions,
): Router {
  const router = Router();
  const caller = auth.require('authorize', 'decide');
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');

  // The authenticated caller goes into the decision log, as for decide and authorize.
  const contextOf = (res: Response): DecisionContext => ({ endpoint: 'authzen', caller: callerName(res) });

  router.post(EVALUATION_PATH, echoRequestId, caller, async (req, res) => {
    res.json(await evaluator.evaluation(req.body, contextOf(res)));
  });

  router.post(EVALUATIONS_PATH, echoRequestId, caller, async (req, res) => {
    res.json(await evaluator.evaluations(req.body, contextOf(res)));
  });

  // Spec §8: the same caller role as evaluation, since a search is a series of evaluations.
  for (const kind of ['subject', 'resource', 'action'] as const) {
    router.post(SEARCH_PATHS[kind], echoRequestId, caller, async (req, res) => {
      res.json(await search.search(kind, req.body, contextOf(res)));
    });
  }

  // Spec §9: public, so a PEP can discover the endpoints before it holds a credential.
  const metadata = {
    policy_decision_point: baseUrl,
    access_evaluation_endpoint: baseUrl + EVALUATION_PATH,
    access_evaluations_endpoint: baseUrl + EVALUATIONS_PATH,
    search_subject_endpoint: baseUrl + SEARCH_PATHS.subject,
    search_resource_endpoint: baseUrl + SEARCH_PATHS.resource,
    search_action_endpoint: baseUrl + SEARCH_PATHS.action,
  };
  router.get(METADATA_PATH, echoRequestId, (_req, res) => {
    res.json(metadata);
  });

  return router;
}
