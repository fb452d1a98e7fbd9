/**
 * The words the PDP's contract is written in (DESIGN §3–§6): schemas, the engine, the store, the
 * token verifiers and the config read them from here, so a value cannot be accepted at one layer
 * and unknown at the next.
 */

/** Risk levels of agents, users and sign-ins, lowest first (Entra's, without `hidden`). */
export const RISK_LEVELS = ['none', 'low', 'medium', 'high'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** How an agent acts: alone, for a signed-in user, or as its own agent user. */
export const FLOWS = ['autonomous', 'on_behalf_of', 'agent_user'] as const;
export type Flow = (typeof FLOWS)[number];

/** Roles a caller can hold (DESIGN §6). */
export const ROLES = ['decide', 'authorize', 'admin', 'author'] as const;
export type Role = (typeof ROLES)[number];

/** A tenant: the directory, data-directory and Redis key namespace. */
export const TENANT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** Agents, blueprints, users, resources: ids that may be UPNs or URNs (`@`, `:`). */
export const PRINCIPAL_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$';
/** Documents of the data directory: CA policies, named locations, gateway routes. */
export const DOCUMENT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

export const TENANT_RE = new RegExp(TENANT_PATTERN);
export const DOCUMENT_ID_RE = new RegExp(DOCUMENT_ID_PATTERN);

/**
 * JWS algorithms a public key can verify. Symmetric ones and `none` are never accepted for a
 * token: a shared secret cannot identify its issuer.
 */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/** HMAC algorithms, which OPA accepts for bundle signatures (a shared secret between two parties). */
export const HMAC_JWS_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
