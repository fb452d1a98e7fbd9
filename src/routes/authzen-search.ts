import { createHash } from 'node:crypto';
import type { DecisionContext } from '../decision/service';
import { PdpError } from '../errors';
import { createAjv, toDetails } from '../schemas/ajv';
import {
  authzenActionSchema,
  authzenContextSchema,
  authzenResourceSchema,
  authzenSubjectSchema,
} from '../schemas/authzen';
import { AGENTS_INDEX } from '../store/keys';
import type { SignalStore } from '../store/types';
import type { AuthzenEvaluator } from './authzen';

/**
 * AuthZEN Authorization API 1.0 search (§8): which actions (scopes) an agent may use on a
 * resource, which resources it may use a scope on, which agents may use a scope on a resource.
 * Candidates come from the directory (the agent's effective permissions, the tenant's agents) and each
 * is decided by the Access Evaluation itself, so search and evaluation cannot disagree: a result is
 * exactly a candidate whose evaluation is a permit.
 */

export const SEARCH_PATHS = {
  subject: '/access/v1/search/subject',
  resource: '/access/v1/search/resource',
  action: '/access/v1/search/action',
} as const;
export type SearchKind = keyof typeof SEARCH_PATHS;

/** Results per page when the caller gives no `page.limit`, and the most it may ask for. */
export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 100;
/** Evaluations one search call may run: past it the page ends early with a next_token. */
export const MAX_EVALUATIONS_PER_CALL = 200;

const pageSchema = {
  type: 'object',
  properties: {
    token: { type: 'string', maxLength: 512 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT },
  },
} as const;

const typeOnly = (type: object) => ({ type: 'object', required: ['type'], properties: { type } }) as const;

const SCHEMAS = {
  action: {
    type: 'object',
    required: ['subject', 'resource'],
    properties: {
      subject: authzenSubjectSchema,
      resource: authzenResourceSchema,
      context: authzenContextSchema,
      page: pageSchema,
    },
  },
  resource: {
    type: 'object',
    required: ['subject', 'action', 'resource'],
    properties: {
      subject: authzenSubjectSchema,
      action: authzenActionSchema,
      // The id, if present, is ignored (spec §8.2).
      resource: typeOnly(authzenResourceSchema.properties.type),
      context: authzenContextSchema,
      page: pageSchema,
    },
  },
  subject: {
    type: 'object',
    required: ['subject', 'action', 'resource'],
    properties: {
      subject: typeOnly(authzenSubjectSchema.properties.type),
      action: authzenActionSchema,
      resource: authzenResourceSchema,
      context: authzenContextSchema,
      page: pageSchema,
    },
  },
} as const;

interface SearchBody {
  subject: { type: string; id?: string };
  action?: { name: string };
  resource: { type: string; id?: string };
  context?: Record<string, unknown>;
  page?: { token?: string; limit?: number };
}

export interface SearchResponse {
  results: Record<string, string>[];
  page: { next_token: string; count: number };
}

export interface AuthzenSearch {
  search(kind: SearchKind, body: unknown, ctx: DecisionContext): Promise<SearchResponse>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalidToken(message: string): PdpError {
  return new PdpError('invalid_request', 'The page token is invalid', [
    { pointer: '/page/token', message, keyword: 'token' },
  ]);
}

/** Binds a page token to its query: a token from another query (or forged) is refused. */
function queryHash(kind: SearchKind, body: SearchBody): string {
  const { page: _page, ...query } = body;
  return createHash('sha256').update(kind).update('\0').update(JSON.stringify(query)).digest('base64url');
}

function encodeToken(query: string, offset: number): string {
  return Buffer.from(JSON.stringify({ q: query, o: offset })).toString('base64url');
}

function decodeToken(token: string, query: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken('is not a token this PDP issued');
  }
  if (!isObject(parsed) || parsed['q'] !== query) throw invalidToken('belongs to another query');
  const offset = parsed['o'];
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw invalidToken('is not a token this PDP issued');
  }
  return offset;
}

/** The sorted own string members of a stored permission list (records are hostile input). */
function scopesOf(permissions: unknown, resource: string): string[] {
  if (!isObject(permissions) || !Object.hasOwn(permissions, resource)) return [];
  const list = permissions[resource];
  return Array.isArray(list)
    ? [...new Set(list.filter((s): s is string => typeof s === 'string'))].sort()
    : [];
}

export function authzenSearch(evaluator: AuthzenEvaluator, store: SignalStore): AuthzenSearch {
  const ajv = createAjv();
  const validators = {
    action: ajv.compile<SearchBody>(SCHEMAS.action),
    resource: ajv.compile<SearchBody>(SCHEMAS.resource),
    subject: ajv.compile<SearchBody>(SCHEMAS.subject),
  };

  /** Every candidate of the varying entity, in a stable order. */
  async function candidates(kind: SearchKind, body: SearchBody, tenant: string): Promise<string[]> {
    if (kind === 'subject') return (await store.members(tenant, AGENTS_INDEX)).sort();
    const agentId = body.subject.id ?? '';
    const resource = body.resource.id;
    const signals = await store.readSignals({ tenant, agentId, ...(resource !== undefined && { resource }) });
    // Every source of the agent's effective permissions: its blueprint's, its direct grants, its
    // access-package entitlements (an expired one is a candidate its evaluation then refuses).
    const sources: unknown[] = [
      signals.blueprint?.permissions,
      signals.agent?.permissions,
      ...signals.grants.map((g) => (isObject(g) ? g['permissions'] : undefined)),
    ];
    if (kind === 'action') return [...new Set(sources.flatMap((p) => scopesOf(p, resource ?? '')))].sort();
    // Resource search: every resource a source names.
    return [...new Set(sources.flatMap((p) => (isObject(p) ? Object.keys(p) : [])))].sort();
  }

  /** The Access Evaluation request a candidate stands for. */
  function evaluationOf(kind: SearchKind, body: SearchBody, candidate: string): Record<string, unknown> {
    const subject = kind === 'subject' ? { type: 'agent', id: candidate } : body.subject;
    const action = kind === 'action' ? { name: candidate } : body.action;
    const resource = kind === 'resource' ? { type: body.resource.type, id: candidate } : body.resource;
    return { subject, action, resource, ...(body.context !== undefined && { context: body.context }) };
  }

  function resultOf(kind: SearchKind, body: SearchBody, candidate: string): Record<string, string> {
    if (kind === 'action') return { name: candidate };
    if (kind === 'resource') return { type: body.resource.type, id: candidate };
    return { type: 'agent', id: candidate };
  }

  return {
    async search(kind, raw, ctx) {
      const validate = validators[kind];
      if (!validate(raw)) {
        throw new PdpError('invalid_request', 'The request body is invalid', toDetails(validate.errors));
      }
      const body = raw;
      if (body.context !== undefined && Object.hasOwn(body.context, 'scope')) {
        // A token request's scope list would replace the one scope each candidate is asked for.
        throw new PdpError('invalid_request', 'The request body is invalid', [
          {
            pointer: '/context/scope',
            message: 'is for token requests; a search asks one scope per action',
            keyword: 'not',
          },
        ]);
      }
      const query = queryHash(kind, body);
      const tenant = typeof body.context?.['tenant'] === 'string' ? body.context['tenant'] : 'default';
      const all = await candidates(kind, body, tenant);
      const start =
        body.page?.token === undefined || body.page.token === '' ? 0 : decodeToken(body.page.token, query);
      if (start > all.length) throw invalidToken('points past the results');
      const limit = body.page?.limit ?? DEFAULT_PAGE_LIMIT;
      const results: Record<string, string>[] = [];
      let next = start;
      let evaluated = 0;
      while (next < all.length && results.length < limit && evaluated < MAX_EVALUATIONS_PER_CALL) {
        const candidate = all[next] as string;
        next++;
        evaluated++;
        let permitted = false;
        try {
          permitted = (await evaluator.evaluation(evaluationOf(kind, body, candidate), ctx)).decision;
        } catch (err) {
          // A candidate the evaluation refuses as invalid (a stored id or scope outside the
          // request schema) is not a result; anything else fails the call.
          if (!(err instanceof PdpError) || err.status >= 500) throw err;
        }
        if (permitted) results.push(resultOf(kind, body, candidate));
      }
      return {
        results,
        page: { next_token: next < all.length ? encodeToken(query, next) : '', count: results.length },
      };
    },
  };
}
