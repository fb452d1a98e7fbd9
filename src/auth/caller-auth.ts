import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { ApiKeyEntry, Config } from '../config';
import { ASYMMETRIC_JWS_ALGORITHMS, ROLES, type Role } from '../vocabulary';
import { PdpError } from '../errors';

export interface Caller {
  name: string;
  roles: readonly Role[];
}

export interface CallerJwtConfig {
  issuer: string;
  jwksUrl: string;
  audience: string;
  /** Claim holding the roles: an array or a space-separated string. */
  rolesClaim: string;
}

export interface CallerAuthOptions {
  apiKeys: readonly ApiKeyEntry[];
  jwt?: CallerJwtConfig | null;
  /**
   * Mutual TLS is on: with no keys or JWT configured, a verified client certificate is the caller,
   * and a request without one is refused (the admin port accepts connections without a certificate).
   */
  mtls?: boolean;
  /** Injectable for tests (a local JWKS). */
  jwks?: JWTVerifyGetKey;
}

/** The settings caller authentication is built from. */
export type CallerAuthConfig = Pick<
  Config,
  'apiKeys' | 'callerIssuer' | 'callerJwksUrl' | 'callerAudience' | 'callerRolesClaim' | 'tlsClientCa'
>;

/**
 * Caller authentication as the configuration asks for it: API keys, JWT callers, mutual TLS.
 * The only way the service builds it (API port, admin port, cluster primary), so no listener can
 * end up with fewer mechanisms than another, and open where the others are closed.
 */
export function callerAuthFromConfig(
  config: CallerAuthConfig,
  opts: { jwks?: JWTVerifyGetKey } = {},
): CallerAuth {
  const { callerIssuer: issuer, callerJwksUrl: jwksUrl, callerAudience: audience } = config;
  return createCallerAuth({
    apiKeys: config.apiKeys,
    jwt:
      issuer !== null && jwksUrl !== null && audience !== null
        ? { issuer, jwksUrl, audience, rolesClaim: config.callerRolesClaim }
        : null,
    mtls: config.tlsClientCa !== null,
    ...opts,
  });
}

/** With no caller authentication configured every role is granted: config refuses that off loopback. */
const ANONYMOUS: Caller = { name: 'anonymous', roles: ROLES };

/** The authenticated caller's name, for logs; null before authentication. */
export function callerName(res: Response): string | null {
  const caller = res.locals['caller'] as Caller | undefined;
  return caller?.name ?? null;
}

export interface CallerAuth {
  /**
   * The caller of a request, checked to hold one of `roles`; throws (or rejects with) a 401 or 403
   * PdpError. Synchronous for API keys and when auth is off, so the hot path awaits nothing then.
   */
  authenticate(
    req: IncomingMessage,
    roles: readonly Role[],
    apiKeyHeaderOnly: boolean,
  ): Caller | Promise<Caller>;
  /** Authenticates the caller and checks it holds one of `roles`; 401 or 403 otherwise. */
  require(...roles: Role[]): RequestHandler;
  /** The same, reading the credential from X-API-Key only: on gateway routes Authorization is the agent's. */
  requireApiKeyHeader(...roles: Role[]): RequestHandler;
}

function credential(req: IncomingMessage, apiKeyHeaderOnly: boolean): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined && !apiKeyHeaderOnly) return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  const apiKey = req.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function rolesOf(value: unknown): Role[] {
  const list = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
  return list.filter((r): r is Role => ROLES.includes(r as Role));
}

function peerCertificateName(req: IncomingMessage): string | null {
  const socket = req.socket as Partial<TLSSocket>;
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return null;
  const subject = socket.getPeerCertificate().subject as Record<string, string> | undefined;
  return subject?.['CN'] ?? 'mtls-client';
}

/**
 * Caller authentication: API keys (looked up by sha256, so the configured value is never the
 * secret), JWTs from a trusted issuer with roles in a claim (jose, remote JWKS), or, when mutual
 * TLS is the only mechanism, the verified client certificate.
 */
export function createCallerAuth(opts: CallerAuthOptions): CallerAuth {
  const byHash = new Map(opts.apiKeys.map((k) => [k.sha256, { name: k.name, roles: k.roles }]));
  const jwt = opts.jwt ?? null;
  const jwks = opts.jwks ?? (jwt === null ? null : createRemoteJWKSet(new URL(jwt.jwksUrl)));
  const keyless = byHash.size === 0 && jwt === null;

  const verifyJwt = async (token: string): Promise<Caller> => {
    if (jwt === null || jwks === null) throw new PdpError('unauthenticated', 'The API key is not valid');
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        algorithms: [...ASYMMETRIC_JWS_ALGORITHMS],
        requiredClaims: ['exp'],
      });
      const name = typeof payload.sub === 'string' ? payload.sub : 'jwt-caller';
      return { name, roles: rolesOf(payload[jwt.rolesClaim]) };
    } catch {
      throw new PdpError('unauthenticated', 'The caller token is not valid');
    }
  };

  const admitted = (caller: Caller, roles: readonly Role[]): Caller => {
    if (!roles.some((r) => caller.roles.includes(r))) {
      throw new PdpError('forbidden', `This operation requires the role ${roles.join(' or ')}`);
    }
    return caller;
  };

  const authenticate = (
    req: IncomingMessage,
    roles: readonly Role[],
    apiKeyHeaderOnly: boolean,
  ): Caller | Promise<Caller> => {
    if (keyless && opts.mtls !== true) return admitted(ANONYMOUS, roles);
    if (keyless) {
      // Never anonymous when mutual TLS is the mechanism: a connection without a verified
      // certificate (the admin port lets one in, for probes) is not a caller.
      const certName = peerCertificateName(req);
      if (certName === null) {
        throw new PdpError('unauthenticated', 'A client certificate from the trusted CA is required');
      }
      return admitted({ name: certName, roles: ROLES }, roles);
    }
    const presented = credential(req, apiKeyHeaderOnly);
    if (presented === undefined) {
      throw new PdpError(
        'unauthenticated',
        apiKeyHeaderOnly
          ? 'A caller credential is required (X-API-Key)'
          : 'A caller credential is required (Authorization: Bearer or X-API-Key)',
      );
    }
    // API keys first: a synchronous map lookup on the hot path.
    const keyed = byHash.get(createHash('sha256').update(presented).digest('hex'));
    if (keyed !== undefined) return admitted(keyed, roles);
    if (jwt === null || !JWT_SHAPE.test(presented))
      throw new PdpError('unauthenticated', 'The API key is not valid');
    return verifyJwt(presented).then((caller) => admitted(caller, roles));
  };

  const guard =
    (apiKeyHeaderOnly: boolean, roles: Role[]): RequestHandler =>
    (req: Request, res: Response, next: NextFunction) => {
      const caller = authenticate(req, roles, apiKeyHeaderOnly);
      if (caller instanceof Promise) {
        caller.then((c) => {
          res.locals['caller'] = c;
          next();
        }, next);
        return;
      }
      res.locals['caller'] = caller;
      next();
    };
  return {
    authenticate,
    require: (...roles: Role[]) => guard(false, roles),
    requireApiKeyHeader: (...roles: Role[]) => guard(true, roles),
  };
}
