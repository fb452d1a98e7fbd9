import { createHash } from 'node:crypto';
import request from 'supertest';
import type { ApiKeyEntry } from '../../src/config';
import { TestClock, decideBody, makeApp, type TestApp } from '../helpers/app';

describe('directory and signals API', () => {
  let t: TestApp;
  const clock = new TestClock();
  beforeEach(async () => {
    t = await makeApp({ clock: clock.now });
  });

  it('puts, gets and deletes blueprints and agents', async () => {
    const bp = {
      display_name: 'HR agents',
      enabled: true,
      permissions: { 'api://hr': ['hr.read'] },
      max_ttl_seconds: 600,
    };
    const put = await request(t.api).put('/v1/tenants/acme/blueprints/bp-hr').send(bp).expect(200);
    expect(put.body).toEqual({ ...bp, id: 'bp-hr', attributes: {}, updated_at: '2026-11-27T12:00:00.000Z' });
    await request(t.api).get('/v1/tenants/acme/blueprints/bp-hr').expect(200, put.body);

    const agent = { blueprint_id: 'bp-hr', enabled: true, sponsors: ['u-1'], attributes: { tier: 'prod' } };
    await request(t.api).put('/v1/tenants/acme/agents/agt-hr').send(agent).expect(200);
    const out = await request(t.api)
      .post('/v1/decide')
      .send({
        tenant: 'acme',
        flow: 'autonomous',
        agent_id: 'agt-hr',
        resource: 'api://hr',
        scopes: ['hr.read'],
      })
      .expect(200);
    expect(out.body).toMatchObject({
      decision: 'allow',
      grant: { scopes: ['hr.read'], ttl_seconds: 600 },
      policies: [],
    });

    await request(t.api).delete('/v1/tenants/acme/agents/agt-hr').expect(204);
    await request(t.api).delete('/v1/tenants/acme/agents/agt-hr').expect(404);
    const gone = await request(t.api).get('/v1/tenants/acme/agents/agt-hr').expect(404);
    expect(gone.body.error.code).toBe('not_found');
  });

  it('records risk signals and revocations', async () => {
    await request(t.api)
      .put('/v1/tenants/default/signals/users/u-9/risk')
      .send({ level: 'medium' })
      .expect(200);
    await request(t.api).get('/v1/tenants/default/signals/users/u-9/risk').expect(200);
    const rev = await request(t.api)
      .post('/v1/tenants/default/signals/agents/agt-7f3a/revocation')
      .send({})
      .expect(201);
    expect(rev.body).toEqual({
      revoked_at: '2026-11-27T12:00:00.000Z',
      revoked_at_epoch: Date.parse('2026-11-27T12:00:00Z') / 1000,
    });
    await request(t.api).get('/v1/tenants/default/signals/agents/agt-7f3a/revocation').expect(200, rev.body);
    await request(t.api).delete('/v1/tenants/default/signals/agents/agt-7f3a/revocation').expect(204);
    await request(t.api).delete('/v1/tenants/default/signals/agents/agt-7f3a/revocation').expect(404);
    await request(t.api).get('/v1/tenants/default/signals/agents/agt-7f3a/revocation').expect(404);
  });

  it.each([
    ['/v1/tenants/acme/agents/agt-1', { blueprint_id: 'bp', enabled: 'yes', sponsors: [] }, '/enabled'],
    ['/v1/tenants/acme/agents/agt-1', { blueprint_id: 'bp', enabled: true }, '/sponsors'],
    [
      '/v1/tenants/acme/agents/agt-1',
      { blueprint_id: 'bp', enabled: true, sponsors: [], expires_at: 'soon' },
      '/expires_at',
    ],
    [
      '/v1/tenants/acme/blueprints/bp-1',
      { enabled: true, permissions: { 'api://x': 'x.read' } },
      '/permissions/api:~1~1x',
    ],
    ['/v1/tenants/acme/signals/agents/agt-1/risk', { level: 'severe' }, '/level'],
    ['/v1/tenants/a%7Bb%7D/agents/agt-1', { blueprint_id: 'bp', enabled: true, sponsors: [] }, '/tenant'],
  ])('400 for PUT %s with a bad body or path', async (path, body, pointer) => {
    const res = await request(t.api).put(path).send(body).expect(400);
    expect(res.body.error.details.map((d: { pointer: string }) => d.pointer)).toContain(pointer);
  });
});

describe('caller authentication and roles', () => {
  const key = (name: string) => `key-${name}-0123456789`;
  const entry = (name: string, roles: ApiKeyEntry['roles']): ApiKeyEntry => ({
    name,
    roles,
    sha256: createHash('sha256').update(key(name)).digest('hex'),
  });
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp({
      apiKeys: [entry('issuer', ['decide']), entry('author', ['author']), entry('admin', ['admin'])],
    });
  });

  const routes: [string, string, string, Record<string, unknown> | undefined][] = [
    ['decide', 'post', '/v1/decide', decideBody()],
    ['decide', 'post', '/v1/decide/batch', { requests: [decideBody()] }],
    ['author', 'post', '/v1/whatif', decideBody()],
    ['admin', 'put', '/v1/tenants/default/signals/users/u-1/risk', { level: 'low' }],
    ['admin', 'get', '/v1/tenants/default/agents/agt-7f3a', undefined],
    ['admin', 'delete', '/v1/tenants/default/signals/users/u-1/risk', undefined],
    ['admin', 'post', '/v1/tenants/default/signals/agents/agt-7f3a/revocation', {}],
  ];

  it.each(routes)(
    '%s role: %s %s refuses anonymous (401), a wrong key (401) and another role (403)',
    async (role, method, path, body) => {
      const call = (auth?: string) => {
        const req = (request(t.api) as unknown as Record<string, (p: string) => request.Test>)[method]!(path);
        if (auth !== undefined) req.set('authorization', `Bearer ${auth}`);
        return body === undefined ? req : req.send(body);
      };
      expect((await call()).status).toBe(401);
      expect((await call('not-a-key')).status).toBe(401);
      const other = role === 'admin' ? 'issuer' : 'admin';
      const forbidden = await call(key(other));
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('forbidden');
      const allowed = await call(key(role === 'decide' ? 'issuer' : role));
      expect([200, 201, 204]).toContain(allowed.status);
    },
  );

  it('guards /v1/authorize with the authorize role in X-API-Key (Authorization is the agent token)', async () => {
    const gw = await makeApp({ apiKeys: [entry('gateway', ['authorize']), entry('issuer', ['decide'])] });
    const ask = (apiKey?: string) => {
      const req = request(gw.api)
        .get('/v1/authorize')
        .set('x-original-method', 'GET')
        .set('x-original-uri', '/healthz');
      return apiKey === undefined ? req : req.set('x-api-key', apiKey);
    };
    expect((await ask()).status).toBe(401);
    expect((await ask('wrong')).status).toBe(401);
    expect((await ask(key('issuer'))).status).toBe(403);
    // The key in Authorization is not read on this route: that header belongs to the agent.
    const viaAuthorization = await request(gw.api)
      .get('/v1/authorize')
      .set('x-original-uri', '/healthz')
      .set('authorization', `Bearer ${key('gateway')}`);
    expect(viaAuthorization.status).toBe(401);
    expect((await ask(key('gateway'))).status).toBe(200);
  });

  it('accepts the key in X-API-Key too, and guards /v1/policies on the admin port', async () => {
    await request(t.api).post('/v1/decide').set('x-api-key', key('issuer')).send(decideBody()).expect(200);
    await request(t.admin).get('/v1/policies').expect(401);
    await request(t.admin)
      .get('/v1/policies')
      .set('authorization', `Bearer ${key('issuer')}`)
      .expect(403);
    await request(t.admin)
      .get('/v1/policies')
      .set('authorization', `Bearer ${key('author')}`)
      .expect(200);
    await request(t.admin).get('/healthz').expect(200, { status: 'ok' });
  });
});
