import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ApiKeyEntry, Role } from '../config';
import { PdpError } from '../errors';

export interface Caller {
  name: string;
  roles: readonly Role[];
}

/** With no keys configured every role is granted: config refuses that off loopback. */
const ANONYMOUS: Caller = { name: 'anonymous', roles: ['decide', 'authorize', 'admin', 'author'] };

function presentedKey(req: Request, apiKeyHeaderOnly: boolean): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined && !apiKeyHeaderOnly) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  const apiKey = req.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : undefined;
}

export interface CallerAuth {
  /** Authenticates the caller and checks it holds one of `roles`; 401 or 403 otherwise. */
  require(...roles: Role[]): RequestHandler;
  /** The same, reading the key from X-API-Key only: on gateway routes Authorization is the agent's. */
  requireApiKeyHeader(...roles: Role[]): RequestHandler;
}

export function createApiKeyAuth(keys: readonly ApiKeyEntry[]): CallerAuth {
  // Keys are looked up by their sha256: the configured secret is never compared byte by byte.
  const byHash = new Map(keys.map((k) => [k.sha256, { name: k.name, roles: k.roles }]));
  const authenticate = (req: Request, apiKeyHeaderOnly: boolean): Caller => {
    if (byHash.size === 0) return ANONYMOUS;
    const key = presentedKey(req, apiKeyHeaderOnly);
    if (key === undefined)
      throw new PdpError(
        'unauthenticated',
        apiKeyHeaderOnly
          ? 'An API key is required (X-API-Key)'
          : 'An API key is required (Authorization: Bearer <key> or X-API-Key)',
      );
    const caller = byHash.get(createHash('sha256').update(key).digest('hex'));
    if (caller === undefined) throw new PdpError('unauthenticated', 'The API key is not valid');
    return caller;
  };
  const guard =
    (apiKeyHeaderOnly: boolean, roles: Role[]): RequestHandler =>
    (req: Request, res: Response, next: NextFunction) => {
      const caller = authenticate(req, apiKeyHeaderOnly);
      if (!roles.some((r) => caller.roles.includes(r))) {
        throw new PdpError('forbidden', `This operation requires the role ${roles.join(' or ')}`);
      }
      res.locals['caller'] = caller;
      next();
    };
  return {
    require: (...roles: Role[]) => guard(false, roles),
    requireApiKeyHeader: (...roles: Role[]) => guard(true, roles),
  };
}
