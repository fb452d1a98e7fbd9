import { createHash, createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { SignJWT } from 'jose';

/** How the sync app proves who it is at the token endpoint (client credentials grant). */
export type ClientCredential =
  { kind: 'secret'; secret: string } | { kind: 'certificate'; certificatePem: string; keyPem: string };

export interface TokenOptions {
  /** `<authority>/<tenant>/oauth2/v2.0/token`. */
  tokenUrl: string;
  clientId: string;
  credential: ClientCredential;
  /** `<graph origin>/.default`. */
  scope: string;
  timeoutMs: number;
  clock: () => number;
  fetch?: typeof fetch;
}

/** A token endpoint answer that is not a token: the sync retries later, never with a guess. */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** base64url SHA-1 of the certificate's DER: the `x5t` Entra matches the registered certificate by. */
export function certificateThumbprint(certificatePem: string): string {
  const der = new X509Certificate(certificatePem).raw;
  return createHash('sha1').update(der).digest('base64url');
}

/**
 * Client-credentials tokens, cached until a minute before they expire; concurrent callers share
 * one request. A certificate credential signs a fresh client assertion per request (RS256, `x5t`,
 * aud = the token endpoint, 5 minutes), as Microsoft's certificate-credentials page describes.
 */
export class TokenProvider {
  private cached: { token: string; expiresAt: number } | null = null;
  private pending: Promise<string> | null = null;
  private readonly thumbprint: string | null;
  private readonly key: ReturnType<typeof createPrivateKey> | null;
  /** Token requests made (tests pin caching). */
  requests = 0;

  constructor(private readonly opts: TokenOptions) {
    const c = opts.credential;
    this.thumbprint = c.kind === 'certificate' ? certificateThumbprint(c.certificatePem) : null;
    this.key = c.kind === 'certificate' ? createPrivateKey(c.keyPem) : null;
  }

  /** Drops the cached token (after a 401 from Graph). */
  invalidate(): void {
    this.cached = null;
  }

  async token(): Promise<string> {
    const now = this.opts.clock();
    if (this.cached !== null && now < this.cached.expiresAt) return this.cached.token;
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async assertion(): Promise<string> {
    const now = Math.floor(this.opts.clock() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5t: this.thumbprint ?? '' })
      .setIssuer(this.opts.clientId)
      .setSubject(this.opts.clientId)
      .setAudience(this.opts.tokenUrl)
      .setJti(randomUUID())
      .setNotBefore(now)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(this.key as NonNullable<typeof this.key>);
  }

  private async fetchToken(): Promise<string> {
    const { clientId, scope, credential } = this.opts;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, scope });
    if (credential.kind === 'secret') form.set('client_secret', credential.secret);
    else {
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', await this.assertion());
    }
    this.requests += 1;
    const res = await (this.opts.fetch ?? fetch)(this.opts.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(this.opts.timeoutMs),
      redirect: 'error',
    });
    const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
    if (!res.ok) {
      // The error code only: the description can echo request details.
      const code = body !== null && typeof body['error'] === 'string' ? body['error'] : 'unknown';
      throw new TokenError(`token endpoint answered ${res.status} (${code})`, res.status, retryAfterMs(res));
    }
    const token = body?.['access_token'];
    const expiresIn = Number(body?.['expires_in']);
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new TokenError('token endpoint answered without access_token / expires_in', res.status);
    }
    // A minute early (at most half the lifetime), so a token never expires mid-sync.
    const margin = Math.min(60, expiresIn / 2) * 1000;
    this.cached = { token, expiresAt: this.opts.clock() + expiresIn * 1000 - margin };
    return token;
  }
}

/** Retry-After (delta-seconds or an HTTP date) in ms, or null when absent or unreadable. */
export function retryAfterMs(res: Response, now: number = Date.now()): number | null {
  const raw = res.headers.get('retry-after');
  if (raw === null || raw.trim() === '') return null;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
