import { createHash } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import type { ApiKeyEntry } from '../../src/config';
import { errorHandler, jsonBody, notFound } from '../../src/http/middleware';
import { authzenEvaluator, authzenRoutes } from '../../src/routes/authzen';
import { authzenSearch } from '../../src/routes/authzen-search';
import { TestClock, makeApp, silentLogger, type TestApp } from '../helpers/app';

/**
 * The OpenID AuthZEN Authorization API 1.0 examples, adapted to the example tenant
 * (examples/directory.json, policies/data/default): agent agt-7f3a may get payments.read and
 * payments.write on api://payments; 198.51.100.7 is a trusted (corporate) address, 203.0.113.7 is
 * not, and outside trusted locations payments is read-only.
 */
const CORP = { ip: '198.51.100.7', country: 'NL' };
const UNTRUSTED = { ip: '203.0.113.7', country: 'NL' };
const AGENT = { type: 'agent', id: 'agt-7f3a' };
const PAYMENTS = { type: 'api', id: 'api://payments' };
const INVOICES = { type: 'api', id: 'api://invoices' };
const READ = { name: 'payments.read' };
const WRITE = { name: 'payments.write' };
/** The request identifier of the specification's HTTPS binding examples. */
const REQUEST_ID = 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716';
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

interface Decision {
  decision: boolean;
  context: Record<string, any>;
}

function pointers(res: request.Response): string[] {
  return (res.body.error.details as { pointer: string }[]).map((d) => d.pointer);
}

describe('AuthZEN Access Evaluation API: POST /access/v1/evaluation (spec §6)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeApp({ clock: new TestClock().now });
  });

  const evaluation = (body: unknown) =>
    request(t.api)
      .post('/access/v1/evaluation')
      .set('x-request-id', REQUEST_ID)
      .send(body as object);

  it('permits the spec example (§6.1.1) adapted to an agent, and echoes X-Request-ID', async () => {
    const res = await evaluation({
      subject: AGENT,
      resource: PAYMENTS,
      action: { name: 'payments.read', properties: { method: 'GET' } },
      context: { time: '1985-10-26T01:22-07:00', client: CORP },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-request-id']).toBe(REQUEST_ID);
    expect(res.body).toEqual({ decision: true, context: { decision_id: expect.stringMatching(ULID) } });
  });

  it('denies payments.write outside trusted locations, with the reasons in the context (§5.5.1)', async () => {
    const res = await evaluation({
      subject: AGENT,
      resource: PAYMENTS,
      action: WRITE,
      context: { client: UNTRUSTED },
    });
    expect(res.status).toBe(200);
    const out = res.body as Decision;
    expect(out.decision).toBe(false);
    expect(out.context['decision_id']).toMatch(ULID);
    expect(out.context['reasons'].map((r: { code: string }) => r.code)).toContain('no_permitted_scopes');
    expect(out.context['reason_admin']).toEqual({
      en: out.context['reasons'].map((r: { message: string }) => r.message).join(' '),
    });
    // From a corporate address the same request is a permit.
    const corp = await evaluation({
      subject: AGENT,
      resource: PAYMENTS,
      action: WRITE,
      context: { client: CORP },
    });
    expect(corp.body.decision).toBe(true);
  });

  it.each([
    ['agent_disabled', { ...AGENT, id: 'agt-disabled' }, PAYMENTS, READ],
    ['agent_not_found', { ...AGENT, id: 'agt-nobody' }, PAYMENTS, READ],
    ['resource_not_permitted', AGENT, { type: 'api', id: 'api://hr' }, { name: 'hr.read' }],
    ['no_permitted_scopes', AGENT, PAYMENTS, { name: 'payments.admin' }],
  ])('answers decision false with %s', async (code, subject, resource, action) => {
    const res = await evaluation({ subject, resource, action, context: { client: CORP } });
    expect(res.status).toBe(200);
    expect(res.body.decision).toBe(false);
    expect(res.body.context.reasons.map((r: { code: string }) => r.code)).toContain(code);
  });

  it('takes tenant, flow, user, client, requested_ttl_seconds and blueprint_id from the context', async () => {
    const user = { id: 'u-42', amr: ['pwd'], device: { platform: 'windows', compliant: true } };
    const context = {
      tenant: 'default',
      flow: 'on_behalf_of',
      user,
      client: CORP,
      requested_ttl_seconds: 600,
      blueprint_id: 'bp-invoice',
    };
    const stepUp = await evaluation({ subject: AGENT, resource: PAYMENTS, action: READ, context });
    expect(stepUp.body).toMatchObject({ decision: false, context: { required_controls: ['mfa'] } });
    expect(stepUp.body.context.reasons).toContainEqual(
      expect.objectContaining({ code: 'ca_grant_unsatisfied', policy_id: 'ca-obo-require-mfa' }),
    );

    const mfa = { ...context, user: { ...user, amr: ['pwd', 'mfa'] } };
    const allowed = await evaluation({ subject: AGENT, resource: PAYMENTS, action: READ, context: mfa });
    expect(allowed.body.decision).toBe(true);

    const mismatch = { ...mfa, blueprint_id: 'bp-research' };
    const denied = await evaluation({ subject: AGENT, resource: PAYMENTS, action: READ, context: mismatch });
    expect(denied.body.context.reasons.map((r: { code: string }) => r.code)).toContain('blueprint_mismatch');
  });

  it('answers a token request (context scope) with the narrowed grant, as /v1/decide gives it', async () => {
    const body = {
      subject: AGENT,
      resource: PAYMENTS,
      action: { name: 'token' },
      context: { client: UNTRUSTED, scope: 'payments.read payments.write', requested_ttl_seconds: 3600 },
    };
    const res = await evaluation(body).expect(200);
    const decide = await request(t.api)
      .post('/v1/decide')
      .send({
        flow: 'autonomous',
        agent_id: 'agt-7f3a',
        resource: 'api://payments',
        scopes: ['payments.read', 'payments.write'],
        requested_ttl_seconds: 3600,
        client: UNTRUSTED,
      })
      .expect(200);
    expect(decide.body.grant.scopes).toEqual(['payments.read']);
    expect(res.body.decision).toBe(true);
    expect(res.body.context.granted_scope).toBe(decide.body.grant.scopes.join(' '));
    expect(res.body.context.token_lifetime).toBe(decide.body.grant.ttl_seconds);
    expect(res.body.context.reasons.map((r: { code: string }) => r.code)).toContain('scope_narrowed');

    // Nothing grantable: a deny without a grant.
    const none = await evaluation({ ...body, context: { client: CORP, scope: 'payments.admin' } }).expect(
      200,
    );
    expect(none.body.decision).toBe(false);
    expect(none.body.context.granted_scope).toBeUndefined();
    expect(none.body.context.token_lifetime).toBeUndefined();
  });

  it.each([
    ['an empty scope', ''],
    ['a double space', 'payments.read  payments.write'],
    ['a quote', 'payments"read'],
    ['a control character', 'payments.read\tx'],
  ])('refuses a token request with %s (400, pointing at /context/scope)', async (_name, scope) => {
    const res = await evaluation({ subject: AGENT, resource: PAYMENTS, action: READ, context: { scope } });
    expect(res.status).toBe(400);
    expect(pointers(res)).toContain('/context/scope');
  });

  it('defaults the flow to autonomous and needs no context at all', async () => {
    // No client: an unknown address is never trusted, so payments is read-only.
    const read = await evaluation({ subject: AGENT, resource: PAYMENTS, action: READ });
    expect(read.body.decision).toBe(true);
    const write = await evaluation({ subject: AGENT, resource: PAYMENTS, action: WRITE });
    expect(write.body.decision).toBe(false);
  });

  it('ignores unknown members, as the specification asks for forward compatibility', async () => {
    const res = await evaluation({
      subject: { ...AGENT, properties: { department: 'Finance', ip_address: '172.217.22.14' } },
      resource: { ...PAYMENTS, properties: { owner: 'finance' }, extra: 1 },
      action: { ...READ, properties: { method: 'GET' } },
      context: { client: CORP },
      foo: 'bar',
      futureField: { nested: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.decision).toBe(true);
  });

  it('refuses free-form context members beyond 4 KiB', async () => {
    const res = await evaluation({
      subject: AGENT,
      resource: PAYMENTS,
      action: READ,
      context: { note: 'x'.repeat(5000) },
    });
    expect(res.status).toBe(400);
    expect(pointers(res)).toEqual(['/context']);
  });

  const valid = { subject: AGENT, resource: PAYMENTS, action: READ };
  it.each([
    ['no subject', { resource: PAYMENTS, action: READ }, '/subject'],
    ['no action', { subject: AGENT, resource: PAYMENTS }, '/action'],
    ['no resource', { subject: AGENT, action: READ }, '/resource'],
    ['a subject that is not an agent', { ...valid, subject: { type: 'user', id: 'alice' } }, '/subject/type'],
    ['a subject without type', { ...valid, subject: { id: 'agt-7f3a' } }, '/subject/type'],
    ['a subject without id', { ...valid, subject: { type: 'agent' } }, '/subject/id'],
    ['a subject that is a string', { ...valid, subject: 'agt-7f3a' }, '/subject'],
    ['an action without name', { ...valid, action: {} }, '/action/name'],
    ['an action name that is a number', { ...valid, action: { name: 123 } }, '/action/name'],
    ['a resource without type', { ...valid, resource: { id: 'api://payments' } }, '/resource/type'],
    ['a resource without id', { ...valid, resource: { type: 'api' } }, '/resource/id'],
    ['on_behalf_of without a user', { ...valid, context: { flow: 'on_behalf_of' } }, '/context/user'],
    ['an unknown flow', { ...valid, context: { flow: 'sideways' } }, '/context/flow'],
    ['a client IP that is not one', { ...valid, context: { client: { ip: 'nope' } } }, '/context/client/ip'],
    ['an unknown client member', { ...valid, context: { client: { mac: 'x' } } }, '/context/client/mac'],
    ['a bad tenant', { ...valid, context: { tenant: '../etc' } }, '/context/tenant'],
    ['a body that is an array', [valid], ''],
  ])('400 for %s, pointing at the member', async (_what, body, pointer) => {
    const res = await evaluation(body);
    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBe(REQUEST_ID);
    expect(res.body.error.code).toBe('invalid_request');
    expect(pointers(res)).toContain(pointer);
  });

  it('400 for an empty body', async () => {
    const res = await request(t.api).post('/access/v1/evaluation');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  it('sets no X-Request-ID when the caller sent none', async () => {
    const res = await request(t.api).post('/access/v1/evaluation').send(valid).expect(200);
    expect(res.headers['x-request-id']).toBeUndefined();
  });
});

describe('AuthZEN Access Evaluations API: POST /access/v1/evaluations (spec §7)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeApp({ clock: new TestClock().now });
  });

  const evaluations = (body: unknown) =>
    request(t.api)
      .post('/access/v1/evaluations')
      .set('x-request-id', REQUEST_ID)
      .send(body as object);

  async function decisions(body: unknown): Promise<boolean[]> {
    const res = await evaluations(body);
    expect(res.status).toBe(200);
    expect(res.body.decision).toBeUndefined();
    return (res.body.evaluations as Decision[]).map((e) => e.decision);
  }

  it('evaluates three fully specified requests in order (§7.1, no defaults)', async () => {
    const context = { time: '2024-05-31T15:22-07:00', client: CORP };
    const res = await evaluations({
      evaluations: [
        { subject: AGENT, action: READ, resource: PAYMENTS, context },
        { subject: AGENT, action: { name: 'invoices.read' }, resource: INVOICES, context },
        { subject: AGENT, action: { name: 'hr.read' }, resource: { type: 'api', id: 'api://hr' }, context },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe(REQUEST_ID);
    const out = res.body.evaluations as Decision[];
    expect(out.map((e) => e.decision)).toEqual([true, true, false]);
    expect(out[0]).toEqual({ decision: true, context: { decision_id: expect.stringMatching(ULID) } });
    expect(out[2]!.context['reasons'][0].code).toBe('resource_not_permitted');
    expect(new Set(out.map((e) => e.context['decision_id'] as string)).size).toBe(3);
  });

  it('applies top-level defaults, overridden per item (§7.1.1)', async () => {
    // The spec's example: subject and context shared, a default action overridden by the last item.
    expect(
      await decisions({
        subject: AGENT,
        context: { time: '2024-05-31T15:22-07:00', client: UNTRUSTED },
        action: READ,
        evaluations: [
          { resource: PAYMENTS },
          { resource: INVOICES, action: { name: 'invoices.read' } },
          { resource: PAYMENTS, action: WRITE },
          // An item's context replaces the default context: from a corporate address, write passes.
          { resource: PAYMENTS, action: WRITE, context: { client: CORP } },
          { subject: { type: 'agent', id: 'agt-disabled' }, resource: PAYMENTS },
        ],
      }),
    ).toEqual([true, true, false, true, false]);
  });

  it('replaces a default entity whole, but lets an item inherit the identifiers it omits', async () => {
    expect(
      await decisions({
        subject: AGENT,
        resource: PAYMENTS,
        context: { client: CORP },
        evaluations: [
          // resource.type comes from the default, resource.id from the item.
          { resource: { id: 'api://invoices' }, action: { name: 'invoices.read' } },
          // resource.id comes from the default.
          { resource: { type: 'api' }, action: WRITE },
          // The context is replaced as a whole: without the default's client, payments is read-only.
          { action: WRITE, context: { time: '2024-05-31T15:22-07:00' } },
        ],
      }),
    ).toEqual([true, true, false]);
  });

  describe('evaluations semantics (§7.1.2.1)', () => {
    const batch = (semantic: string | undefined, actions: { name: string }[]) => ({
      subject: AGENT,
      resource: PAYMENTS,
      context: { client: UNTRUSTED },
      ...(semantic === undefined ? {} : { options: { evaluations_semantic: semantic } }),
      evaluations: actions.map((action) => ({ action })),
    });

    it.each([
      // From outside trusted locations payments.read is permitted and payments.write denied.
      [undefined, [READ, WRITE, READ], [true, false, true]],
      ['execute_all', [READ, WRITE, READ], [true, false, true]],
      ['deny_on_first_deny', [READ, WRITE, READ], [true, false]],
      ['deny_on_first_deny', [WRITE, READ, READ], [false]],
      ['deny_on_first_deny', [READ, READ, READ], [true, true, true]],
      ['permit_on_first_permit', [READ, WRITE, READ], [true]],
      ['permit_on_first_permit', [WRITE, READ, WRITE], [false, true]],
      ['permit_on_first_permit', [WRITE, WRITE], [false, false]],
    ])('%s over %j answers %j', async (semantic, actions, expected) => {
      expect(await decisions(batch(semantic, actions))).toEqual(expected);
    });

    it('treats an item that cannot be evaluated as the first deny', async () => {
      const res = await evaluations({
        subject: AGENT,
        action: READ,
        options: { evaluations_semantic: 'deny_on_first_deny', another_option: 'value' },
        evaluations: [{ resource: PAYMENTS }, { resource: { type: 'api' } }, { resource: PAYMENTS }],
      }).expect(200);
      expect(res.body.evaluations).toHaveLength(2);
      expect(res.body.evaluations[1]).toMatchObject({
        decision: false,
        context: { error: { status: 400, details: [{ pointer: '/evaluations/1/resource/id' }] } },
      });
    });
  });

  it('answers an item that cannot be evaluated in its slot (§7.2.1), keeping the rest', async () => {
    const res = await evaluations({
      subject: AGENT,
      action: READ,
      evaluations: [
        { resource: PAYMENTS },
        {},
        42,
        { resource: PAYMENTS, subject: { type: 'user', id: 'alice' } },
        { resource: PAYMENTS, context: { flow: 'agent_user' } },
        { resource: PAYMENTS },
      ],
    });
    expect(res.status).toBe(200);
    const out = res.body.evaluations as Decision[];
    expect(out.map((e) => e.decision)).toEqual([true, false, false, false, false, true]);
    expect(out[1]).toEqual({
      decision: false,
      context: {
        error: {
          status: 400,
          code: 'invalid_request',
          message: 'The evaluation is invalid',
          details: [{ pointer: '/evaluations/1/resource', message: 'is required', keyword: 'required' }],
        },
      },
    });
    const pointerOf = (i: number) =>
      (out[i]!.context['error'].details as { pointer: string }[]).map((d) => d.pointer);
    expect(pointerOf(2)).toEqual(['/evaluations/2']);
    expect(pointerOf(3)).toEqual(['/evaluations/3/subject/type']);
    expect(pointerOf(4)).toEqual(['/evaluations/4/context/user']);
  });

  it('points an error that comes from a top-level default at the default', async () => {
    const res = await evaluations({
      subject: { type: 'user', id: 'alice' },
      resource: { type: 'api' },
      evaluations: [{ action: READ }, { action: READ, resource: { type: 'api', id: 'api://payments' } }],
    });
    expect(res.status).toBe(200);
    const details = (res.body.evaluations as Decision[]).map((e) =>
      (e.context['error'].details as { pointer: string }[]).map((d) => d.pointer).sort(),
    );
    expect(details).toEqual([['/resource/id', '/subject/type'], ['/subject/type']]);
  });

  it.each([
    ['no evaluations', {}],
    ['an empty evaluations array', { evaluations: [] }],
  ])('with %s, answers as a single Access Evaluation (§7.1)', async (_what, extra) => {
    const res = await evaluations({ subject: AGENT, action: READ, resource: PAYMENTS, ...extra });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ decision: true, context: { decision_id: expect.stringMatching(ULID) } });
    const incomplete = await evaluations({ subject: AGENT, action: READ, ...extra });
    expect(incomplete.status).toBe(400);
    expect(pointers(incomplete)).toEqual(['/resource']);
  });

  it.each([
    ['evaluations that are not an array', { evaluations: { action: READ } }, '/evaluations'],
    ['more than 100 evaluations', { evaluations: Array.from({ length: 101 }, () => ({})) }, '/evaluations'],
    [
      'an unknown semantic',
      { options: { evaluations_semantic: 'first_wins' }, evaluations: [{}] },
      '/options/evaluations_semantic',
    ],
    ['options that are not an object', { options: 'execute_all', evaluations: [{}] }, '/options'],
    ['a default subject that is not an object', { subject: 'agt-7f3a', evaluations: [{}] }, '/subject'],
    ['a default context that is not an object', { context: [], evaluations: [{}] }, '/context'],
    ['a body that is not an object', [{ action: READ }], ''],
  ])('400 for %s, pointing at the member', async (_what, body, pointer) => {
    const res = await evaluations(body);
    expect(res.status).toBe(400);
    expect(res.headers['x-request-id']).toBe(REQUEST_ID);
    expect(res.body.error.code).toBe('invalid_request');
    expect(pointers(res)).toContain(pointer);
  });
});

describe('AuthZEN PDP metadata: GET /.well-known/authzen-configuration (spec §9)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });

  it('publishes the configured base URL whatever the Host header says, with the search endpoints', async () => {
    for (const host of ['pdp.example.com:8181', 'evil.example', 'evil.example/x?']) {
      const res = await request(t.api)
        .get('/.well-known/authzen-configuration')
        .set('host', host)
        .set('x-forwarded-host', 'evil.example')
        .set('x-forwarded-proto', 'http')
        .set('x-request-id', REQUEST_ID);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['x-request-id']).toBe(REQUEST_ID);
      expect(res.body).toEqual({
        policy_decision_point: 'https://pdp.test.example',
        access_evaluation_endpoint: 'https://pdp.test.example/access/v1/evaluation',
        access_evaluations_endpoint: 'https://pdp.test.example/access/v1/evaluations',
        search_subject_endpoint: 'https://pdp.test.example/access/v1/search/subject',
        search_resource_endpoint: 'https://pdp.test.example/access/v1/search/resource',
        search_action_endpoint: 'https://pdp.test.example/access/v1/search/action',
      });
    }
  });

  it('publishes a base URL with a path, without its trailing slash', async () => {
    const app = express();
    app.use(jsonBody(65536));
    app.use(
      authzenRoutes(
        authzenEvaluator(t.decisions),
        authzenSearch(authzenEvaluator(t.decisions), t.store),
        t.services.auth,
        {
          baseUrl: 'https://pdp.mycompany.com/authz/',
        },
      ),
    );
    app.use(notFound);
    app.use(errorHandler(silentLogger));
    const res = await request(app).get('/.well-known/authzen-configuration').expect(200);
    expect(res.body).toEqual({
      policy_decision_point: 'https://pdp.mycompany.com/authz',
      access_evaluation_endpoint: 'https://pdp.mycompany.com/authz/access/v1/evaluation',
      access_evaluations_endpoint: 'https://pdp.mycompany.com/authz/access/v1/evaluations',
      search_subject_endpoint: 'https://pdp.mycompany.com/authz/access/v1/search/subject',
      search_resource_endpoint: 'https://pdp.mycompany.com/authz/access/v1/search/resource',
      search_action_endpoint: 'https://pdp.mycompany.com/authz/access/v1/search/action',
    });
    // The published endpoint answers.
    await request(app)
      .post('/access/v1/evaluation')
      .send({ subject: AGENT, resource: PAYMENTS, action: READ })
      .expect(200, /"decision":true/);
  });
});

describe('AuthZEN caller authentication (API keys)', () => {
  const key = (name: string) => `key-${name}-0123456789`;
  const entry = (name: string, roles: ApiKeyEntry['roles']): ApiKeyEntry => ({
    name,
    roles,
    sha256: createHash('sha256').update(key(name)).digest('hex'),
  });
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp({
      apiKeys: [entry('issuer', ['decide']), entry('gateway', ['authorize']), entry('admin', ['admin'])],
    });
  });

  const single = { subject: AGENT, resource: PAYMENTS, action: READ };
  it.each([
    ['/access/v1/evaluation', single],
    ['/access/v1/evaluations', { ...single, evaluations: [{}, { action: WRITE }] }],
  ])(
    '%s refuses anonymous and unknown keys (401), other roles (403), and admits authorize and decide',
    async (path, body) => {
      const call = (auth?: string) => {
        const req = request(t.api).post(path).set('x-request-id', REQUEST_ID);
        if (auth !== undefined) req.set('authorization', `Bearer ${auth}`);
        return req.send(body);
      };
      const anonymous = await call();
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(anonymous.headers['x-request-id']).toBe(REQUEST_ID);
      expect(anonymous.body.error.code).toBe('unauthenticated');
      expect((await call('not-a-key')).status).toBe(401);
      const forbidden = await call(key('admin'));
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('forbidden');
      expect((await call(key('gateway'))).status).toBe(200);
      expect((await call(key('issuer'))).status).toBe(200);
      await request(t.api).post(path).set('x-api-key', key('gateway')).send(body).expect(200);
    },
  );

  it('serves the metadata without a key', async () => {
    await request(t.api).get('/.well-known/authzen-configuration').expect(200);
  });
});
