import request from 'supertest';
import type { DecideResponse } from '../../src/decision/service';
import { TestClock, decideBody, makeApp, type TestApp } from '../helpers/app';

const UNTRUSTED = { ip: '203.0.113.7', country: 'NL' };
const CORP = { ip: '198.51.100.7', country: 'NL' };

/** Every reason code and policy result seen by this file, checked against DESIGN §3 at the end. */
const seenReasons = new Set<string>();
const seenResults = new Set<string>();

describe('POST /v1/decide (memory store, compiled example policies)', () => {
  let t: TestApp;
  let clock: TestClock;

  beforeEach(async () => {
    clock = new TestClock();
    t = await makeApp({ clock: clock.now });
  });

  async function decide(body: Record<string, unknown>): Promise<DecideResponse> {
    const res = await request(t.api).post('/v1/decide').send(body);
    expect(res.status).toBe(200);
    const out = res.body as DecideResponse;
    for (const r of out.reasons) seenReasons.add(r.code);
    for (const p of out.policies) seenResults.add(p.result);
    return out;
  }

  function policy(out: DecideResponse, id: string) {
    return out.policies.find((p) => p.id === id);
  }

  it('answers the README example: narrowed to read-only for 15 minutes outside corporate networks', async () => {
    const out = await decide(decideBody({ client: UNTRUSTED }));
    expect(out).toMatchObject({
      decision: 'allow',
      grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
      reasons: [{ code: 'scope_narrowed', policy_id: null }],
      required_controls: [],
      signals: { agent_risk: 'none', user_risk: 'none', revoked: false, degraded: false },
      evaluated_at: '2026-11-27T12:00:00.000Z',
    });
    expect(out.decision_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(out.revision).toBe(t.engine.current!.revision);
    expect(policy(out, 'ca-payments-untrusted-read-only')).toEqual({
      id: 'ca-payments-untrusted-read-only',
      name: 'Payments: read-only, short-lived tokens outside corporate networks',
      state: 'enabled',
      result: 'success',
      reason: 'notSet',
      controls: [],
    });
    expect(policy(out, 'ca-legacy-research-block')).toMatchObject({
      result: 'notEnabled',
      reason: 'policyNotEnabled',
    });
    expect(policy(out, 'ca-block-high-risk-agents')).toMatchObject({
      result: 'notApplied',
      reason: 'agentIdRisk',
    });
  });

  it('grants every requested scope from a trusted location, capped by the blueprint lifetime', async () => {
    const out = await decide(decideBody({ client: CORP, requested_ttl_seconds: 7200 }));
    expect(out.grant).toEqual({
      audience: 'api://payments',
      scopes: ['payments.read', 'payments.write'],
      ttl_seconds: 3600,
    });
    expect(out.reasons).toEqual([]);
  });

  it('treats an IPv6 address inside a trusted range as trusted', async () => {
    const out = await decide(decideBody({ client: { ip: '2001:db8:1::42' } }));
    expect(out.grant?.scopes).toEqual(['payments.read', 'payments.write']);
  });

  it('defaults the tenant and the lifetime', async () => {
    const body = decideBody({ client: CORP, resource: 'api://invoices', scopes: ['invoices.read'] });
    delete body['tenant'];
    delete body['requested_ttl_seconds'];
    const out = await decide(body);
    expect(out.grant).toEqual({ audience: 'api://invoices', scopes: ['invoices.read'], ttl_seconds: 3600 });
  });

  it.each([
    ['agent_not_found', { agent_id: 'agt-nobody' }],
    ['agent_disabled', { agent_id: 'agt-disabled' }],
    ['agent_expired', { agent_id: 'agt-expired', resource: 'api://docs', scopes: ['docs.read'] }],
    ['agent_no_sponsor', { agent_id: 'agt-orphan', resource: 'api://docs', scopes: ['docs.read'] }],
    [
      'blueprint_disabled',
      { agent_id: 'agt-retired', resource: 'api://invoices', scopes: ['invoices.read'] },
    ],
    ['blueprint_mismatch', { blueprint_id: 'bp-research' }],
    ['resource_not_permitted', { resource: 'api://hr' }],
    ['no_permitted_scopes', { scopes: ['payments.admin'] }],
  ])('denies with %s', async (code, overrides) => {
    const out = await decide(decideBody({ client: CORP, ...overrides }));
    expect(out.decision).toBe('deny');
    expect(out.grant).toBeNull();
    expect(out.reasons.map((r) => r.code)).toContain(code);
  });

  it('denies with blueprint_not_found for an agent whose blueprint was deleted', async () => {
    await request(t.api).delete('/v1/tenants/default/blueprints/bp-research').expect(204);
    const out = await decide(
      decideBody({ agent_id: 'agt-research-1', resource: 'api://docs', scopes: ['docs.read'] }),
    );
    expect(out.reasons.map((r) => r.code)).toEqual(['blueprint_not_found']);
  });

  it('blocks a high-risk agent (ca_block, failure) but not the excluded break-glass agent', async () => {
    for (const id of ['agt-7f3a', 'agt-break-glass']) {
      await request(t.api)
        .put(`/v1/tenants/default/signals/agents/${id}/risk`)
        .send({ level: 'high', state: 'atRisk' })
        .expect(200);
    }
    const blocked = await decide(decideBody({ client: CORP }));
    expect(blocked).toMatchObject({ decision: 'deny', grant: null, signals: { agent_risk: 'high' } });
    expect(blocked.reasons).toContainEqual(
      expect.objectContaining({ code: 'ca_block', policy_id: 'ca-block-high-risk-agents' }),
    );
    expect(policy(blocked, 'ca-block-high-risk-agents')).toMatchObject({
      result: 'failure',
      reason: 'notSet',
    });

    const breakGlass = await decide(decideBody({ client: CORP, agent_id: 'agt-break-glass' }));
    expect(breakGlass.decision).toBe('allow');
    expect(policy(breakGlass, 'ca-block-high-risk-agents')).toMatchObject({
      result: 'notApplied',
      reason: 'agentIdentities',
    });
  });

  it('blocks users by country through a named location; the agent acting alone is not a user', async () => {
    const client = { ip: '203.0.113.9', country: 'KP' };
    const user = { id: 'u-42', amr: ['pwd', 'mfa'] };
    const out = await decide(decideBody({ client, flow: 'on_behalf_of', user }));
    expect(out.reasons).toContainEqual(
      expect.objectContaining({ code: 'ca_block', policy_id: 'ca-block-embargoed-locations' }),
    );
    // An "All users" policy: as in Entra, it does not apply to an agent identity's own token.
    const alone = await decide(decideBody({ client }));
    expect(policy(alone, 'ca-block-embargoed-locations')).toMatchObject({
      result: 'notApplied',
      reason: 'agentIdentities',
    });
  });

  it('asks for MFA on behalf of a user who signed in without it, then allows with it', async () => {
    const user = { id: 'u-42', amr: ['pwd'], device: { platform: 'windows', compliant: true } };
    const denied = await decide(decideBody({ client: CORP, flow: 'on_behalf_of', user }));
    expect(denied).toMatchObject({ decision: 'deny', required_controls: ['mfa'] });
    expect(denied.reasons).toContainEqual(
      expect.objectContaining({ code: 'ca_grant_unsatisfied', policy_id: 'ca-obo-require-mfa' }),
    );

    const allowed = await decide(
      decideBody({ client: CORP, flow: 'on_behalf_of', user: { ...user, amr: ['pwd', 'mfa'] } }),
    );
    expect(allowed.decision).toBe('allow');
    // Sign-in frequency of one hour caps the lifetime.
    expect(allowed.grant?.ttl_seconds).toBe(3600);
    expect(policy(allowed, 'ca-obo-require-mfa')).toMatchObject({ result: 'success', reason: 'notSet' });
  });

  it('takes the higher of the reported and the stored user risk, and requires both controls (AND)', async () => {
    const user = {
      id: 'u-risky',
      amr: ['pwd', 'mfa'],
      risk: 'low',
      device: { platform: 'windows', compliant: false },
    };
    const out = await decide(decideBody({ client: CORP, flow: 'on_behalf_of', user }));
    expect(out.signals.user_risk).toBe('high');
    expect(out).toMatchObject({ decision: 'deny', required_controls: ['compliantDevice'] });
    const linux = await decide(
      decideBody({
        client: CORP,
        flow: 'on_behalf_of',
        user: { ...user, device: { platform: 'Linux', compliant: false } },
      }),
    );
    expect(policy(linux, 'ca-risky-users-compliant-device')).toMatchObject({
      result: 'notApplied',
      reason: 'devicePlatform',
    });
  });

  it('reports report-only policies without enforcing them', async () => {
    const lab = await decide(
      decideBody({
        agent_id: 'agt-lab-1',
        client: CORP,
        scopes: ['payments.read'],
        requested_ttl_seconds: 600,
      }),
    );
    expect(lab.decision).toBe('allow');
    expect(policy(lab, 'ca-lab-agents-payments-report-only')).toMatchObject({
      result: 'reportOnlyFailure',
      reason: 'notSet',
    });

    const user = { id: 'au-7f3a', amr: ['pwd', 'mfa'], device: { platform: 'macOS', compliant: true } };
    const ok = await decide(decideBody({ client: CORP, flow: 'agent_user', user }));
    expect(policy(ok, 'ca-agent-user-compliant-device-report-only')).toMatchObject({
      result: 'reportOnlySuccess',
    });
    // An AllAgentIdUsers policy: agent users only, not a user on whose behalf an agent acts.
    const human = { ...user, id: 'u-7' };
    const obo = await decide(decideBody({ client: CORP, flow: 'on_behalf_of', user: human }));
    expect(policy(obo, 'ca-agent-user-compliant-device-report-only')).toMatchObject({
      result: 'reportOnlyNotApplied',
      reason: 'users',
    });
  });

  it('folds custom Rego denials in with their own code', async () => {
    const out = await decide(decideBody({ agent_id: 'agt-lab-1', client: CORP }));
    expect(out.decision).toBe('deny');
    expect(out.reasons).toContainEqual(
      expect.objectContaining({ code: 'custom_deny', custom_code: 'lab_agent_write' }),
    );
  });

  it('honours agent expiry against the injected clock', async () => {
    const body = decideBody({ agent_id: 'agt-lab-1', client: CORP, scopes: ['payments.read'] });
    expect((await decide(body)).decision).toBe('allow');
    clock.ms = Date.parse('2030-01-01T00:00:01Z');
    expect((await decide(body)).reasons.map((r) => r.code)).toContain('agent_expired');
  });

  it('reports a revocation marker in the signals', async () => {
    await request(t.api)
      .post('/v1/tenants/default/signals/agents/agt-7f3a/revocation')
      .send({ reason: 'key leak' })
      .expect(201);
    const out = await decide(decideBody({ client: CORP }));
    expect(out.signals.revoked).toBe(true);
  });

  describe('batch', () => {
    it('decides each item in order and puts a 400 body in the slot of a bad one', async () => {
      const res = await request(t.api)
        .post('/v1/decide/batch')
        .send({
          requests: [
            decideBody({ client: CORP }),
            { flow: 'autonomous' },
            decideBody({ agent_id: 'agt-disabled' }),
          ],
        })
        .expect(200);
      const results = res.body.results as Record<string, unknown>[];
      expect(results).toHaveLength(3);
      expect(results[0]).toMatchObject({ decision: 'allow' });
      expect(results[1]).toMatchObject({ error: { code: 'invalid_request' } });
      expect(
        (results[1] as { error: { details: { pointer: string }[] } }).error.details.map((d) => d.pointer),
      ).toEqual(
        expect.arrayContaining(['/requests/1/agent_id', '/requests/1/resource', '/requests/1/scopes']),
      );
      expect(results[2]).toMatchObject({ decision: 'deny' });
    });

    it('refuses more than 100 requests', async () => {
      const res = await request(t.api)
        .post('/v1/decide/batch')
        .send({ requests: Array.from({ length: 101 }, () => decideBody()) })
        .expect(400);
      expect(res.body.error.details).toContainEqual(
        expect.objectContaining({ pointer: '/requests', keyword: 'maxItems' }),
      );
    });
  });

  describe('what-if', () => {
    it('applies overrides, filters policies and lists each condition', async () => {
      const res = await request(t.api)
        .post('/v1/whatif')
        .send({
          ...decideBody({ client: CORP }),
          overrides: { agent_risk: 'high' },
          policy_ids: ['ca-block-high-risk-agents'],
        })
        .expect(200);
      const out = res.body as DecideResponse;
      expect(out.decision).toBe('deny');
      expect(out.policies.map((p) => p.id)).toEqual(['ca-block-high-risk-agents']);
      expect(out.policies[0]!.conditions).toEqual([
        { name: 'agentIdentities', matched: true },
        { name: 'application', matched: true },
        { name: 'agentIdRisk', matched: true },
      ]);
    });

    it('evaluates at an overridden time', async () => {
      const res = await request(t.api)
        .post('/v1/whatif')
        .send({
          ...decideBody({ agent_id: 'agt-lab-1', scopes: ['payments.read'] }),
          overrides: { now: '2031-01-01T00:00:00Z' },
        })
        .expect(200);
      expect(res.body.reasons.map((r: { code: string }) => r.code)).toContain('agent_expired');
      expect(res.body.evaluated_at).toBe('2031-01-01T00:00:00.000Z');
    });
  });

  afterAll(() => {
    // DESIGN §3's vocabularies; signals_unavailable is produced by the Redis outage test.
    for (const code of [
      'agent_not_found',
      'agent_disabled',
      'agent_expired',
      'agent_no_sponsor',
      'blueprint_not_found',
      'blueprint_disabled',
      'blueprint_mismatch',
      'resource_not_permitted',
      'no_permitted_scopes',
      'scope_narrowed',
      'ca_block',
      'ca_grant_unsatisfied',
      'custom_deny',
    ]) {
      expect([code, seenReasons.has(code)]).toEqual([code, true]);
    }
    for (const result of [
      'success',
      'failure',
      'notApplied',
      'notEnabled',
      'reportOnlySuccess',
      'reportOnlyFailure',
      'reportOnlyNotApplied',
    ]) {
      expect([result, seenResults.has(result)]).toEqual([result, true]);
    }
  });
});

describe('request errors', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });

  it.each([
    ['a missing field', decideBody({ agent_id: undefined }), '/agent_id', 'required'],
    ['a wrong type', decideBody({ scopes: 'payments.read' }), '/scopes', 'type'],
    ['an empty scope list', decideBody({ scopes: [] }), '/scopes', 'minItems'],
    ['an unknown field', decideBody({ scope: ['x'] }), '/scope', 'additionalProperties'],
    ['an unknown flow', decideBody({ flow: 'implicit' }), '/flow', 'enum'],
    ['a user-less on-behalf-of request', decideBody({ flow: 'on_behalf_of' }), '/user', 'required'],
    ['a bad client IP', decideBody({ client: { ip: '999.1.1.1' } }), '/client/ip', 'format'],
    ['a tenant with a hash tag', decideBody({ tenant: '{x}' }), '/tenant', 'pattern'],
    ['an oversized context', decideBody({ context: { blob: 'x'.repeat(5000) } }), '/context', 'maxBytes'],
  ])('400 for %s with its JSON pointer', async (_name, body, pointer, keyword) => {
    const res = await request(t.api).post('/v1/decide').send(body).expect(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ pointer, keyword }));
  });

  it('400 invalid_json for malformed JSON', async () => {
    const res = await request(t.api)
      .post('/v1/decide')
      .set('content-type', 'application/json')
      .send('{"flow": ')
      .expect(400);
    expect(res.body.error.code).toBe('invalid_json');
  });

  it('400 for a JSON body that is not an object', async () => {
    const res = await request(t.api)
      .post('/v1/decide')
      .set('content-type', 'application/json')
      .send('[1,2]')
      .expect(400);
    expect(res.body.error.details).toContainEqual(expect.objectContaining({ pointer: '', keyword: 'type' }));
  });

  it('413 beyond the body limit', async () => {
    const res = await request(t.api)
      .post('/v1/decide')
      .send(decideBody({ context: { blob: 'x'.repeat(70 * 1024) } }))
      .expect(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('415 for a body that is not JSON', async () => {
    const res = await request(t.api)
      .post('/v1/decide')
      .set('content-type', 'text/plain')
      .send('agent=1')
      .expect(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('404 with a JSON body for an unknown endpoint', async () => {
    const res = await request(t.api).get('/v2/decide').expect(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: 'No such endpoint', details: [] } });
  });

  it('503 not_ready while no bundle is loaded', async () => {
    // As the service starts without a bundle: buildServices logs the failed load and carries on.
    const notReady = await makeApp({ config: { bundle: '/nonexistent/bundle.tar.gz', dataDir: null } });
    expect(notReady.engine.ready).toBe(false);
    await expect(notReady.engine.reload()).rejects.toMatchObject({ code: 'bundle_invalid' });
    const res = await request(notReady.api).post('/v1/decide').send(decideBody()).expect(503);
    expect(res.body.error.code).toBe('not_ready');
    await request(notReady.admin).get('/readyz').expect(503);
  });
});
