import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { AgentTokenVerifier, mapClaims } from '../../../src/auth/agent-tokens';
import { PdpError } from '../../../src/errors';
import { TestClock } from '../../helpers/app';
import { ISSUER, TestIssuer, b64url, signingKey } from '../../helpers/tokens';

function verifier(issuer: TestIssuer, clock: TestClock, overrides = {}) {
  return new AgentTokenVerifier([issuer.trusted(overrides)], {
    clockToleranceSeconds: 30,
    maxTokenBytes: 16_384,
    cacheMaxEntries: 1000,
    clock: clock.now,
  });
}

async function rejection(promise: Promise<unknown>): Promise<PdpError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(PdpError);
    expect((err as PdpError).code).toBe('invalid_token');
    return err as PdpError;
  }
  throw new Error('expected invalid_token');
}

describe('AgentTokenVerifier', () => {
  const clock = new TestClock();
  let issuer: TestIssuer;
  let v: AgentTokenVerifier;
  beforeAll(async () => {
    issuer = await TestIssuer.create(clock.now);
  });
  beforeEach(() => {
    v = verifier(issuer, clock);
  });

  it('maps an autonomous agent token (RS256)', async () => {
    const token = await v.verify(await issuer.token());
    expect(token).toEqual({
      issuer: ISSUER,
      tenant: 'default',
      agent_id: 'agt-7f3a',
      flow: 'autonomous',
      audiences: ['api://payments'],
      scopes: [],
      roles: ['payments.read'],
      user_id: null,
      amr: null,
      iat: clock.ms / 1000,
      exp: clock.ms / 1000 + 3600,
      nbf: null,
      parent_blueprint: 'bp-invoice',
    });
  });

  it('maps on-behalf-of (ES256) and agent-user tokens', async () => {
    const obo = await v.verify(
      await issuer.token(
        { idtyp: 'user', scp: 'payments.read payments.write', oid: 'u-42' },
        { key: issuer.keys[1]! },
      ),
    );
    expect(obo).toMatchObject({
      flow: 'on_behalf_of',
      user_id: 'u-42',
      scopes: ['payments.read', 'payments.write'],
    });
    const agentUser = await v.verify(
      await issuer.token({ idtyp: 'user', xms_sub_fct: '13 99', xms_act_fct: '11', oid: 'agent-user-1' }),
    );
    expect(agentUser).toMatchObject({ flow: 'agent_user', user_id: 'agent-user-1' });
  });

  it('falls back from azp to appid and refuses a token naming no agent', async () => {
    expect((await v.verify(await issuer.token({ azp: undefined, appid: 'agt-legacy' }))).agent_id).toBe(
      'agt-legacy',
    );
    const err = await rejection(v.verify(await issuer.token({ azp: undefined })));
    expect(err.message).toMatch(/names no agent/);
  });

  it('refuses a token whose actor facet is not an agent identity', async () => {
    await rejection(v.verify(await issuer.token({ xms_act_fct: '3' })));
  });

  describe('attacks: each is invalid_token', () => {
    it('alg none', async () => {
      const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: ISSUER, aud: 'api://payments', azp: 'agt-7f3a', iat: clock.ms / 1000, exp: clock.ms / 1000 + 60 })}.`;
      await rejection(v.verify(unsigned));
    });

    it('HS256 signed with the RSA public key as the secret', async () => {
      const { publicKey } = await generateKeyPair('RS256', { extractable: true });
      const pem = await exportSPKI(publicKey);
      const forged = await new SignJWT({ azp: 'agt-7f3a' })
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
        .setIssuer(ISSUER)
        .setAudience('api://payments')
        .setIssuedAt(clock.ms / 1000)
        .setExpirationTime(clock.ms / 1000 + 60)
        .sign(new TextEncoder().encode(pem));
      const err = await rejection(v.verify(forged));
      expect(err.message).toMatch(/algorithm/);
    });

    it('unknown kid', async () => {
      const other = await signingKey('RS256', 'rsa-unknown');
      await rejection(v.verify(await issuer.token({}, { key: other })));
    });

    it.each([
      '../../../../etc/passwd',
      "x' OR '1'='1'; DROP TABLE keys;--",
      '\u0000\u202e',
      'a'.repeat(4096),
    ])('kid junk %#', async (kid) => {
      const other = await signingKey('RS256', kid);
      await rejection(v.verify(await issuer.token({}, { key: other })));
    });

    it('signature from an untrusted key under a trusted kid', async () => {
      const impostor = await signingKey('RS256', 'rsa-1');
      const err = await rejection(v.verify(await issuer.token({}, { key: impostor })));
      expect(err.message).toMatch(/signature/);
    });

    it('expired, beyond the clock tolerance', async () => {
      const err = await rejection(v.verify(await issuer.token({}, { iatOffset: -7200, ttl: 3600 - 31 })));
      expect(err.message).toMatch(/expired/);
    });

    it('not yet valid', async () => {
      await rejection(v.verify(await issuer.token({ nbf: clock.ms / 1000 + 600 })));
    });

    it('wrong issuer', async () => {
      const other = await TestIssuer.create(clock.now, 'https://evil.example/v2.0');
      const err = await rejection(v.verify(await other.token({}, { key: other.keys[0]! })));
      expect(err.message).toMatch(/issuer is not trusted/);
    });

    it('wrong audience', async () => {
      const err = await rejection(v.verify(await issuer.token({ aud: 'api://other' })));
      expect(err.message).toMatch(/aud/);
    });

    it.each(['', 'abc', 'a.b', 'a.b.c', '...', `${b64url({ alg: 'RS256' })}.not-json.sig`, 'Bearer x.y.z'])(
      'malformed compact JWS %j',
      async (token) => {
        await rejection(v.verify(token));
      },
    );

    it('a 64 KiB token', async () => {
      const err = await rejection(v.verify(await issuer.token({ pad: 'x'.repeat(64 * 1024) })));
      expect(err.message).toMatch(/too large/);
    });

    it('an algorithm outside the issuer allow-list', async () => {
      const strict = verifier(issuer, clock, { algorithms: ['ES256'] });
      await rejection(strict.verify(await issuer.token()));
    });

    it('a token without exp', async () => {
      const key = issuer.keys[0]!;
      const noExp = await new SignJWT({ azp: 'agt-7f3a' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .setIssuer(ISSUER)
        .setAudience('api://payments')
        .setIssuedAt(clock.ms / 1000)
        .sign(key.privateKey);
      await rejection(v.verify(noExp));
    });
  });

  it('caches a verified token until it expires, then refuses it', async () => {
    const jwt = await issuer.token({}, { ttl: 60 });
    await v.verify(jwt);
    const spy = jest.spyOn((v as unknown as { issuers: Map<string, unknown> }).issuers, 'get');
    await v.verify(jwt);
    expect(spy).not.toHaveBeenCalled(); // the cache answered: no issuer lookup, no signature check
    spy.mockRestore();
    clock.advance(91_000); // past exp + 30 s tolerance
    await rejection(v.verify(jwt));
    clock.advance(-91_000);
  });

  it('fetches a remote JWKS over HTTP and refetches on an unknown kid (key rotation)', async () => {
    let served = { keys: [issuer.keys[0]!.publicJwk] };
    let fetches = 0;
    const server: Server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(served));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
      const remote = new AgentTokenVerifier(
        [
          {
            issuer: ISSUER,
            jwks_uri: uri,
            audiences: ['api://payments'],
            tenant: 'default',
            algorithms: ['RS256', 'ES256'],
          },
        ],
        {
          clockToleranceSeconds: 30,
          maxTokenBytes: 16_384,
          cacheMaxEntries: 0,
          clock: clock.now,
          jwksCooldownMs: 0,
        },
      );
      expect((await remote.verify(await issuer.token())).agent_id).toBe('agt-7f3a');
      expect(fetches).toBe(1);
      served = issuer.jwks; // rotation: the EC key appears
      const ec = await issuer.token({ jti: 'rotated' }, { key: issuer.keys[1]! });
      expect((await remote.verify(ec)).agent_id).toBe('agt-7f3a');
      expect(fetches).toBe(2);
    } finally {
      server.close();
    }
  });
});

describe('mapClaims', () => {
  const trusted = { issuer: ISSUER, audiences: ['a'], tenant: 't1', algorithms: ['RS256'] };
  it("carries an on-behalf-of user's groups and wids, never an agent user's", () => {
    const claims = {
      azp: 'a',
      iat: 1,
      exp: 2,
      idtyp: 'user',
      oid: 'u',
      groups: ['g1', 7, 'g2'],
      wids: ['r1'],
    };
    expect(mapClaims(claims, trusted)).toMatchObject({
      flow: 'on_behalf_of',
      user_id: 'u',
      groups: ['g1', 'g2'],
      wids: ['r1'],
    });
    const agentUser = mapClaims({ ...claims, xms_sub_fct: '13', oid: 'au-1' }, trusted);
    expect(agentUser).toMatchObject({ flow: 'agent_user', user_id: 'au-1' });
    expect(agentUser).not.toHaveProperty('groups');
    expect(agentUser).not.toHaveProperty('wids');
    expect(mapClaims({ azp: 'a', iat: 1, exp: 2, idtyp: 'user', oid: 'u' }, trusted)).not.toHaveProperty(
      'groups',
    );
  });

  it('infers the flow from scp when idtyp is absent and ignores unknown facets', () => {
    expect(
      mapClaims({ azp: 'a', iat: 1, exp: 2, scp: 'x.read', oid: 'u', xms_act_fct: '11 42' }, trusted),
    ).toMatchObject({
      flow: 'on_behalf_of',
      user_id: 'u',
      tenant: 't1',
    });
    expect(mapClaims({ azp: 'a', iat: 1, exp: 2, aud: ['a', 'b'] }, trusted)).toMatchObject({
      flow: 'autonomous',
      audiences: ['a', 'b'],
    });
  });
});
