import { Router, type Request, type Response } from 'express';
import type { Caller, CallerAuth } from '../auth/caller-auth';
import { PdpError, type ErrorDetail } from '../errors';
import { AccessPackages, type Actor, type AssignmentRequest } from '../governance/access-packages';
import { createAjv, toDetails } from '../schemas/ajv';
import { accessPackageSchema, assignmentActionSchema, assignmentRequestSchema } from '../schemas/access';
import type { AccessPackageRecord, SignalStore } from '../store/types';
import { PRINCIPAL_ID_PATTERN, TENANT_PATTERN } from '../vocabulary';

const TENANT = new RegExp(TENANT_PATTERN);
const ID = new RegExp(PRINCIPAL_ID_PATTERN);

/** Path parameters checked against their patterns; `names` are the id parameters of the route. */
export function pathOf(req: Request, ...names: string[]): { tenant: string; ids: string[] } {
  const tenant = String(req.params['tenant']);
  const details: ErrorDetail[] = [];
  if (!TENANT.test(tenant))
    details.push({
      pointer: '/tenant',
      message: `path parameter must match ${TENANT_PATTERN}`,
      keyword: 'path',
    });
  const ids = names.map((name) => {
    const value = String(req.params[name]);
    if (!ID.test(value))
      details.push({
        pointer: `/${name}`,
        message: `path parameter must match ${PRINCIPAL_ID_PATTERN}`,
        keyword: 'path',
      });
    return value;
  });
  if (details.length > 0) throw new PdpError('invalid_request', 'The request path is invalid', details);
  return { tenant, ids };
}

/** The authenticated caller as the governance rules see it: a name, and whether it holds admin. */
export function callerOf(res: Response): Actor {
  const caller = res.locals['caller'] as Caller | undefined;
  return { name: caller?.name ?? 'anonymous', admin: caller?.roles.includes('admin') === true };
}

type PackageBody = Omit<AccessPackageRecord, 'id' | 'updated_at' | 'justification_required'> & {
  justification_required?: boolean;
};

function noQuery(req: Request, allowed: readonly string[] = []): void {
  const details: ErrorDetail[] = Object.keys(req.query)
    .filter((name) => !allowed.includes(name))
    .map((name) => ({
      pointer: `/${name}`,
      message: 'is not a parameter of this query',
      keyword: 'additionalProperties',
    }));
  if (details.length > 0) throw new PdpError('invalid_request', 'The query is invalid', details);
}

/**
 * Access packages (role admin) and their assignments. Requesting, approving, denying and revoking
 * take role `decide` or `admin`: who may do each is then decided by the caller's name against the
 * package (a sponsor of the target agent, the agent itself, a listed approver) and, for admins,
 * the role (src/governance/access-packages.ts).
 */
export function accessPackageRoutes(
  store: SignalStore,
  auth: CallerAuth,
  clock: () => number,
  newId: () => string,
): Router {
  const router = Router();
  const admin = auth.require('admin');
  const participant = auth.require('admin', 'decide');
  const access = new AccessPackages(store, clock, newId);
  const ajv = createAjv();
  /** A compiled schema: the body when valid, else a 400 with a pointer per problem. */
  const check = (schema: object): ((body: unknown) => unknown) => {
    const fn = ajv.compile(schema);
    return (body) => {
      if (!fn(body))
        throw new PdpError('invalid_request', 'The request body is invalid', toDetails(fn.errors));
      return body;
    };
  };
  const packageBody = check(accessPackageSchema) as (body: unknown) => PackageBody;
  const requestBody = check(assignmentRequestSchema) as (body: unknown) => AssignmentRequest;
  const actionBody = check(assignmentActionSchema) as (body: unknown) => { reason?: string };

  const pkgPath = '/v1/tenants/:tenant/access-packages/:id';
  router.put(pkgPath, admin, async (req, res) => {
    const { tenant, ids } = pathOf(req, 'id');
    const body = packageBody(req.body);
    const record = await access.putPackage(
      tenant,
      ids[0] ?? '',
      { ...body, justification_required: body.justification_required ?? false },
      callerOf(res),
    );
    res.json(record);
  });
  router.get(pkgPath, admin, async (req, res) => {
    const { tenant, ids } = pathOf(req, 'id');
    res.json(await access.getPackage(tenant, ids[0] ?? ''));
  });
  router.delete(pkgPath, admin, async (req, res) => {
    const { tenant, ids } = pathOf(req, 'id');
    await access.deletePackage(tenant, ids[0] ?? '', callerOf(res));
    res.status(204).end();
  });
  router.get('/v1/tenants/:tenant/access-packages', admin, async (req, res) => {
    const { tenant } = pathOf(req);
    noQuery(req);
    res.json({ value: await access.listPackages(tenant) });
  });

  router.post(`${pkgPath}/assignment-requests`, participant, async (req, res) => {
    const { tenant, ids } = pathOf(req, 'id');
    res.status(201).json(await access.request(tenant, ids[0] ?? '', requestBody(req.body), callerOf(res)));
  });

  const assignment = '/v1/tenants/:tenant/assignments/:aid';
  for (const step of ['approve', 'deny', 'revoke'] as const) {
    router.post(`${assignment}/${step}`, participant, async (req, res) => {
      const { tenant, ids } = pathOf(req, 'aid');
      const { reason } = actionBody(req.body ?? {});
      res.json(await access[step](tenant, ids[0] ?? '', callerOf(res), reason));
    });
  }
  router.get(assignment, participant, async (req, res) => {
    const { tenant, ids } = pathOf(req, 'aid');
    res.json(await access.getAssignment(tenant, ids[0] ?? ''));
  });
  router.get('/v1/tenants/:tenant/assignments', admin, async (req, res) => {
    const { tenant } = pathOf(req);
    noQuery(req, ['package_id']);
    const packageId: unknown = req.query['package_id'];
    if (packageId !== undefined && (typeof packageId !== 'string' || !ID.test(packageId)))
      throw new PdpError('invalid_request', 'The query is invalid', [
        { pointer: '/package_id', message: `must match ${PRINCIPAL_ID_PATTERN}`, keyword: 'pattern' },
      ]);
    res.json({ value: await access.listAssignments(tenant, packageId) });
  });

  return router;
}
