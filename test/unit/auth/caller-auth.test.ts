import { createHash } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import {
  callerAuthFromConfig,
  createCallerAuth,
  type CallerAuth,
  type CallerAuthConfig,
} from '../../../src/auth/caller-auth';
import { errorHandler } from '../../../src/http/middleware';
import { silentLogger } from '../../helpers/app';

const NONE: CallerAuthConfig = {
  apiKeys: [],
  callerIssuer: null,
  callerJwksUrl: null,
  callerAudience: null,
  callerRolesClaim: 'roles',
  tlsClientCa: null,
};

/** A route guarded like GET /v1/policies, over plain HTTP (no client certificate can be presented). */
function adminRoute(auth: CallerAuth): express.Express {
  const app = express();
  app.get('/v1/policies', auth.require('admin', 'author'), (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorHandler(silentLogger));
  return app;
}

describe('callerAuthFromConfig', () => {
  it('admits anyone when no mechanism is configured (loopback only: config refuses it elsewhere)', async () => {
    await request(adminRoute(callerAuthFromConfig(NONE)))
      .get('/v1/policies')
      .expect(200);
  });

  it('requires an API key when keys are configured', async () => {
    const key = 'k3y';
    const auth = callerAuthFromConfig({
      ...NONE,
      apiKeys: [{ name: 'ops', sha256: createHash('sha256').update(key).digest('hex'), roles: ['admin'] }],
    });
    await request(adminRoute(auth)).get('/v1/policies').expect(401);
    await request(adminRoute(auth)).get('/v1/policies').set('x-api-key', key).expect(200);
  });

  it('requires a JWT when only JWT callers are configured (issue 8: the primary ignored them)', async () => {
    const auth = callerAuthFromConfig({
      ...NONE,
      callerIssuer: 'https://idp.example',
      callerJwksUrl: 'http://127.0.0.1:9/jwks',
      callerAudience: 'agent-pdp',
    });
    const res = await request(adminRoute(auth)).get('/v1/policies').expect(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });

  it('requires a verified client certificate when mutual TLS is the mechanism', async () => {
    const auth = callerAuthFromConfig({ ...NONE, tlsClientCa: '-----BEGIN CERTIFICATE-----' });
    const res = await request(adminRoute(auth)).get('/v1/policies').expect(401);
    expect(res.body.error.code).toBe('unauthenticated');
  });
});

describe('createCallerAuth with mutual TLS only', () => {
  it('never admits a request without a verified certificate as anonymous (it used to get every role)', async () => {
    await request(adminRoute(createCallerAuth({ apiKeys: [], mtls: true })))
      .get('/v1/policies')
      .expect(401);
  });
});
