import { Router, type Request } from 'express';
import type { CallerAuth } from '../auth/caller-auth';
import { PdpError, type ErrorDetail } from '../errors';
import type { SignalStore } from '../store/types';
import { PRINCIPAL_ID_PATTERN, TENANT_PATTERN } from '../vocabulary';

const TENANT = new RegExp(TENANT_PATTERN);
const ID = new RegExp(PRINCIPAL_ID_PATTERN);
/** A stream id: the cursor is the last id of the previous page. */
const CURSOR = /^\d{1,15}-\d{1,15}$/;
const LIMIT = /^[1-9]\d{0,3}$/;
export const TRAIL_PAGE_MAX = 1000;
const TRAIL_PAGE_DEFAULT = 100;
const QUERY: ReadonlySet<string> = new Set(['agent_id', 'before', 'limit']);

/** One query parameter as a single string (`?a=1&a=2` and `?a[b]=1` are refused, not coerced). */
function single(req: Request, name: string, details: ErrorDetail[]): string | undefined {
  const value: unknown = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    details.push({ pointer: `/${name}`, message: 'must be given once, as a string', keyword: 'type' });
    return undefined;
  }
  return value;
}

/**
 * The governance trail (role admin): `GET /v1/tenants/{tenant}/governance/audit`, newest first,
 * optionally only the changes concerning one agent (`agent_id`), paged by `before`.
 */
export function governanceTrailRoutes(store: SignalStore, auth: CallerAuth): Router {
  const router = Router();
  router.get('/v1/tenants/:tenant/governance/audit', auth.require('admin'), async (req, res) => {
    const tenant = String(req.params['tenant']);
    const details: ErrorDetail[] = [];
    if (!TENANT.test(tenant))
      details.push({
        pointer: '/tenant',
        message: `path parameter must match ${TENANT_PATTERN}`,
        keyword: 'path',
      });
    for (const name of Object.keys(req.query)) {
      if (!QUERY.has(name))
        details.push({
          pointer: `/${name}`,
          message: 'is not a parameter of this query',
          keyword: 'additionalProperties',
        });
    }
    const agentId = single(req, 'agent_id', details);
    if (agentId !== undefined && !ID.test(agentId))
      details.push({
        pointer: '/agent_id',
        message: `must match ${PRINCIPAL_ID_PATTERN}`,
        keyword: 'pattern',
      });
    const before = single(req, 'before', details);
    if (before !== undefined && !CURSOR.test(before))
      details.push({
        pointer: '/before',
        message: 'must be a cursor from a previous page',
        keyword: 'pattern',
      });
    const limitText = single(req, 'limit', details);
    const limit =
      limitText === undefined ? TRAIL_PAGE_DEFAULT : LIMIT.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= TRAIL_PAGE_MAX))
      details.push({
        pointer: '/limit',
        message: `must be an integer from 1 to ${TRAIL_PAGE_MAX}`,
        keyword: 'range',
      });
    if (details.length > 0) throw new PdpError('invalid_request', 'The query is invalid', details);
    const value = await store.trail(tenant, { agentId, before, limit });
    const last = value.at(-1);
    res.json({ value, next: value.length === limit && last !== undefined ? last.id : null });
  });
  return router;
}
