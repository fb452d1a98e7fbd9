import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import type { TrustedIssuer } from '../../src/auth/agent-tokens';

export const ISSUER = 'https://login.agents.example/default/v2.0';
export const AUDIENCES = ['api://payments', 'api://invoices', 'api://docs'];

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function signingKey(alg: SigningKey['alg'], kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A real token issuer: keys, a JWKS and Entra-shaped agent tokens. */
export class TestIssuer {
  private constructor(
    readonly keys: SigningKey[],
    readonly issuer: string,
    readonly clock: () => number,
  ) {}

  static async create(clock: () => number = Date.now, issuer = ISSUER): Promise<TestIssuer> {
    return new TestIssuer(
      [await signingKey('RS256', 'rsa-1'), await signingKey('ES256', 'ec-1')],
      issuer,
      clock,
    );
  }

  get jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  trusted(overrides: Partial<TrustedIssuer> = {}): TrustedIssuer {
    return {
      issuer: this.issuer,
      jwks: this.jwks,
      audiences: AUDIENCES,
      tenant: 'default',
      algorithms: ['RS256', 'ES256'],
      ...overrides,
    };
  }

  /** An autonomous agent token (app-only): azp = agent, idtyp app, xms_act_fct 11. */
  async token(
    claims: JWTPayload = {},
    opts: { key?: SigningKey; header?: Record<string, unknown>; iatOffset?: number; ttl?: number } = {},
  ): Promise<string> {
    const key = opts.key ?? this.keys[0]!;
    const now = Math.floor(this.clock() / 1000) + (opts.iatOffset ?? 0);
    return new SignJWT({
      azp: 'agt-7f3a',
      idtyp: 'app',
      xms_act_fct: '11',
      xms_par_app_azp: 'bp-invoice',
      roles: ['payments.read'],
      tid: 'default',
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...opts.header })
      .setIssuer(this.issuer)
      .setAudience(claims.aud ?? 'api://payments')
      .setIssuedAt(now)
      .setExpirationTime(now + (opts.ttl ?? 3600))
      .sign(key.privateKey);
  }

  /** On-behalf-of: idtyp user, scp, oid = the user, azp = the agent. */
  async oboToken(user = 'u-42', claims: JWTPayload = {}): Promise<string> {
    return this.token({
      idtyp: 'user',
      scp: 'payments.read',
      roles: undefined,
      oid: user,
      amr: ['pwd', 'mfa'],
      ...claims,
    });
  }
}

export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}
