import { createHash } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { PdpError } from '../errors';
import type { Flow } from '../vocabulary';

/** One issuer whose agent tokens the gateway accepts (PDP_TRUSTED_ISSUERS). */
export interface TrustedIssuer {
  issuer: string;
  jwks_uri?: string;
  /** Inline JWKS (loaded from `jwks_file` by config) for air-gapped deployments. */
  jwks?: JSONWebKeySet;
  audiences: string[];
  tenant: string;
  algorithms: string[];
}

/** The claims the gateway policy needs, mapped the Entra Agent ID way. */
export interface AgentToken {
  issuer: string;
  tenant: string;
  agent_id: string;
  flow: Flow;
  audiences: string[];
  scopes: string[];
  roles: string[];
  user_id: string | null;
  amr: string[] | null;
  iat: number;
  exp: number;
  nbf: number | null;
  /** `xms_par_app_azp`: the parent blueprint as the issuer saw it; logged, never trusted for authorization. */
  parent_blueprint: string | null;
  /** on_behalf_of only, when the token carries them: the user's `groups` and role template ids (`wids`). */
  groups?: string[];
  wids?: string[];
}

export interface VerifierOptions {
  clockToleranceSeconds: number;
  maxTokenBytes: number;
  cacheMaxEntries: number;
  clock: () => number;
  /** Minimum time between JWKS refetches on an unknown kid (jose's cooldown); default 30 s. */
  jwksCooldownMs?: number;
}

const AGENT_IDENTITY = '11';
const AGENT_USER = '13';

function invalid(message: string): PdpError {
  return new PdpError('invalid_token', message);
}

function facets(value: unknown): Set<string> {
  // Space-separated facet numbers; unknown values are ignored, as Entra's documentation asks.
  return new Set(typeof value === 'string' ? value.split(' ').filter(Boolean) : []);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Maps verified claims: agent id from azp/appid, flow from idtyp and xms_sub_fct, user from oid. */
export function mapClaims(payload: JWTPayload, issuer: TrustedIssuer): AgentToken {
  const agentId = optionalString(payload['azp']) ?? optionalString(payload['appid']);
  if (agentId === null) throw invalid('The token names no agent (azp/appid)');
  if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') {
    throw invalid('The token lacks iat or exp');
  }
  const scp = typeof payload['scp'] === 'string' ? payload['scp'].split(' ').filter(Boolean) : [];
  const idtyp = optionalString(payload['idtyp']) ?? (scp.length > 0 ? 'user' : 'app');
  const subjectFacets = facets(payload['xms_sub_fct']);
  const flow: Flow =
    idtyp !== 'user' ? 'autonomous' : subjectFacets.has(AGENT_USER) ? 'agent_user' : 'on_behalf_of';
  // In Entra agent tokens the actor facet names the agent identity; reject tokens that say otherwise.
  const actorFacets = facets(payload['xms_act_fct']);
  if (actorFacets.size > 0 && !actorFacets.has(AGENT_IDENTITY) && !subjectFacets.has(AGENT_USER)) {
    throw invalid('The token was not issued to an agent identity (xms_act_fct)');
  }
  const aud = payload.aud;
  return {
    issuer: issuer.issuer,
    tenant: issuer.tenant,
    agent_id: agentId,
    flow,
    audiences: typeof aud === 'string' ? [aud] : strings(aud),
    scopes: scp,
    roles: strings(payload['roles']),
    user_id: flow === 'autonomous' ? null : (optionalString(payload['oid']) ?? optionalString(payload.sub)),
    amr: Array.isArray(payload['amr']) ? strings(payload['amr']) : null,
    iat: payload.iat,
    exp: payload.exp,
    nbf: typeof payload.nbf === 'number' ? payload.nbf : null,
    parent_blueprint: optionalString(payload['xms_par_app_azp']),
    // Groups and directory roles describe the signed-in user; an agent user's are not Entra's to apply (DESIGN §4).
    ...(flow === 'on_behalf_of' &&
      Array.isArray(payload['groups']) && { groups: strings(payload['groups']) }),
    ...(flow === 'on_behalf_of' && Array.isArray(payload['wids']) && { wids: strings(payload['wids']) }),
  };
}

/** jose's own codes, kept in the message so an operator can tell an expired token from a bad key. */
function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'The token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The token's ${err.claim} claim is invalid`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return 'The token is signed with an algorithm this issuer is not trusted for';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "No trusted key matches the token's kid";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  if (err instanceof joseErrors.JOSEError) return `The token is invalid (${err.code})`;
  return 'The token is invalid';
}

interface Issuer {
  config: TrustedIssuer;
  keys: JWTVerifyGetKey;
}

/**
 * Verifies agent tokens with jose against the trusted issuers. A verified token is cached under
 * the sha256 of its compact form until it expires, so a repeated token skips the signature check;
 * revocation and agent state are not part of this cache and are checked on every request.
 */
export class AgentTokenVerifier {
  private readonly issuers: Map<string, Issuer>;
  /** null when PDP_TOKEN_CACHE_MAX_ENTRIES is 0: every token is verified. */
  private readonly cache: LRUCache<string, AgentToken> | null;

  constructor(
    issuers: readonly TrustedIssuer[],
    private readonly opts: VerifierOptions,
  ) {
    if (new Set(issuers.map((i) => i.issuer)).size !== issuers.length) {
      // Which tenant a token belongs to would depend on list order: refuse, as the settings do.
      throw new Error('trusted issuers: an issuer is listed twice; each is trusted for exactly one tenant');
    }
    this.issuers = new Map(
      issuers.map((config) => [
        config.issuer,
        {
          config,
          keys:
            config.jwks !== undefined
              ? createLocalJWKSet(config.jwks)
              : // jose refetches on an unknown kid, at most once per cooldown, and caches the set.
                createRemoteJWKSet(new URL(config.jwks_uri ?? ''), {
                  cooldownDuration: opts.jwksCooldownMs ?? 30_000,
                  cacheMaxAge: 600_000,
                  timeoutDuration: 5_000,
                }),
        },
      ]),
    );
    this.cache =
      opts.cacheMaxEntries > 0 ? new LRUCache<string, AgentToken>({ max: opts.cacheMaxEntries }) : null;
  }

  get configured(): boolean {
    return this.issuers.size > 0;
  }

  /** The one tenant every trusted issuer names, or undefined (none, or several). */
  get soleTenant(): string | undefined {
    const tenants = new Set([...this.issuers.values()].map((i) => i.config.tenant));
    return tenants.size === 1 ? [...tenants][0] : undefined;
  }

  async verify(token: string): Promise<AgentToken> {
    if (token.length > this.opts.maxTokenBytes) throw invalid('The token is too large');
    const now = this.opts.clock();
    const key = this.cache === null ? '' : createHash('sha256').update(token).digest('base64url');
    const cached = this.cache?.get(key);
    if (cached !== undefined) {
      if (cached.exp + this.opts.clockToleranceSeconds <= now / 1000) {
        this.cache?.delete(key);
        throw invalid('The token has expired');
      }
      return cached;
    }
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw invalid('The token is not a well-formed JWT');
    }
    const issuer = typeof unverified.iss === 'string' ? this.issuers.get(unverified.iss) : undefined;
    if (issuer === undefined) throw invalid('The token issuer is not trusted');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: issuer.config.issuer,
        audience: issuer.config.audiences,
        algorithms: issuer.config.algorithms,
        clockTolerance: this.opts.clockToleranceSeconds,
        currentDate: new Date(now),
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (err) {
      throw invalid(describeJoseError(err));
    }
    const mapped = mapClaims(payload, issuer.config);
    const ttl = (mapped.exp + this.opts.clockToleranceSeconds) * 1000 - now;
    if (ttl > 0) this.cache?.set(key, mapped, { ttl });
    return mapped;
  }
}
