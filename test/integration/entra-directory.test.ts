import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { DecideResponse } from '../../src/decision/service';
import { recordKey } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory-store';
import { decideBody, makeApp, makeEngine, redisStore, seeded, type TestApp } from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const CORP = { ip: '198.51.100.7', country: 'NL' };
const T = '/v1/tenants/default';

/** Records every command a client sends (MONITOR); commands a script runs inside Redis are not round trips. */
async function roundTrips(url: string): Promise<{ commands: string[][]; stop: () => void }> {
  const client = new Redis(url);
  const monitor = await client.monitor();
  const commands: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua' && args[0]?.toLowerCase() !== 'ping') commands.push(args);
  });
  return {
    commands,
    stop: () => {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

/** Decides on `app` until `done` holds or 1 s passes; the milliseconds it took and the last answer. */
async function until(
  app: TestApp,
  body: Record<string, unknown>,
  done: (r: DecideResponse) => boolean,
  since: number,
): Promise<{ elapsed: number; out: DecideResponse }> {
  let out: DecideResponse;
  for (;;) {
    out = (await request(app.api).post('/v1/decide').send(body)).body as DecideResponse;
    if (done(out) || performance.now() - since > 1000) break;
  }
  return { elapsed: performance.now() - since, out };
}

/**
 * The example tenant, whose "block high-risk agent identities" policy turns a risk into a deny. The
 * tests watch the decision's effective risk (response `signals.agent_risk`) and the decision itself.
 */
const ENGINE = {};
const riskOf = (r: DecideResponse): string => r.signals.agent_risk;

const codes = (r: DecideResponse): string[] => r.reasons.map((x) => x.code);

describe('Entra Agent ID directory over a real Redis shared by two replicas', () => {
  let redis: RedisProcess;
  const apps: TestApp[] = [];
  const stores: { close(): Promise<void> }[] = [];
  const figures: string[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
  });
  afterEach(async () => {
    await Promise.all([...apps.splice(0).map((a) => a.store), ...stores.splice(0)].map((s) => s.close()));
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
  });
  afterAll(async () => {
    await redis.stop();
    // The measured propagation figures, for the notes.
    process.stdout.write(`propagation: ${figures.join('; ')}\n`);
  });

  async function replica(): Promise<TestApp> {
    const store = await redisStore(redis.url, { cacheTtlMs: 60_000 });
    const app = await makeApp({ store, engine: await makeEngine(ENGINE) });
    apps.push(app);
    return app;
  }

  describe('directory API', () => {
    it('agent users are 1:1 with an agent: a second agent user for the same agent is refused with 409', async () => {
      const a = await replica();
      await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({ agent_id: 'agt-7f3a', display_name: 'Invoice bot user', enabled: true })
        .expect(200);
      const conflict = await request(a.api)
        .put(`${T}/agent-users/au-2`)
        .send({ agent_id: 'agt-7f3a', enabled: true })
        .expect(409);
      expect(conflict.body.error.code).toBe('agent_user_conflict');
      expect(conflict.body.error.details[0].pointer).toBe('/agent_id');
      // Rewriting the same agent user is not a conflict; moving it frees the first agent.
      await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({ agent_id: 'agt-7f3a', enabled: false })
        .expect(200);
      await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({ agent_id: 'agt-lab-1', enabled: true })
        .expect(200);
      await request(a.api)
        .put(`${T}/agent-users/au-2`)
        .send({ agent_id: 'agt-7f3a', enabled: true })
        .expect(200);
      // Deleting frees the link too.
      await request(a.api).delete(`${T}/agent-users/au-1`).expect(204);
      await request(a.api).get(`${T}/agent-users/au-1`).expect(404);
      await request(a.api)
        .put(`${T}/agent-users/au-3`)
        .send({ agent_id: 'agt-lab-1', enabled: true })
        .expect(200);
    });

    it('custom security attributes in Graph shape are stored as written; other shapes are 400 with a pointer', async () => {
      const a = await replica();
      const csa = {
        Engineering: {
          '@odata.type': '#microsoft.graph.customSecurityAttributeValue',
          Project: ['Baker', 'Cascade'],
          'Project@odata.type': '#Collection(String)',
          Level: 3,
          Certified: true,
          Owner: 'finance',
        },
      };
      const put = await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({ agent_id: 'agt-7f3a', enabled: true, custom_security_attributes: csa })
        .expect(200);
      expect(put.body.custom_security_attributes).toEqual(csa);
      const bad = await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({
          agent_id: 'agt-7f3a',
          enabled: true,
          custom_security_attributes: { Engineering: { Project: { x: 1 } } },
        })
        .expect(400);
      expect(bad.body.error.code).toBe('invalid_request');
      expect(JSON.stringify(bad.body.error.details)).toContain(
        '/custom_security_attributes/Engineering/Project',
      );
      const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`S${i}`, { A: 'x' }]));
      await request(a.api)
        .put(`${T}/agents/agt-new`)
        .send({
          blueprint_id: 'bp-lab',
          enabled: true,
          sponsors: ['u-1'],
          custom_security_attributes: tooMany,
        })
        .expect(400);
    });

    it('identifier URIs are unique within a tenant (409 naming the URI), released when a resource drops them', async () => {
      const a = await replica();
      await request(a.api)
        .put(`${T}/resources/app-payments`)
        .send({ display_name: 'Payments', identifier_uris: ['api://payments', 'https://pay.example'] })
        .expect(200);
      const conflict = await request(a.api)
        .put(`${T}/resources/app-other`)
        .send({ identifier_uris: ['api://other', 'https://pay.example'] })
        .expect(409);
      expect(conflict.body.error.code).toBe('identifier_uri_conflict');
      expect(conflict.body.error.details[0].pointer).toBe('/identifier_uris/1');
      await request(a.api)
        .put(`${T}/resources/app-payments`)
        .send({ identifier_uris: ['api://payments'] })
        .expect(200);
      await request(a.api)
        .put(`${T}/resources/app-other`)
        .send({ identifier_uris: ['https://pay.example'] })
        .expect(200);
      await request(a.api).delete(`${T}/resources/app-payments`).expect(204);
      await request(a.api)
        .put(`${T}/resources/app-third`)
        .send({ identifier_uris: ['api://payments'] })
        .expect(200);
    });

    it('a blueprint principal belongs to one blueprint', async () => {
      const a = await replica();
      await seeded(a.store);
      const bp = { enabled: true, permissions: {}, principal_id: 'sp-invoice' };
      await request(a.api).put(`${T}/blueprints/bp-invoice`).send(bp).expect(200);
      const conflict = await request(a.api).put(`${T}/blueprints/bp-lab`).send(bp).expect(409);
      expect(conflict.body.error.code).toBe('principal_id_conflict');
      expect(conflict.body.error.details[0].pointer).toBe('/principal_id');
    });

    it('a risk state and level that disagree are refused (400)', async () => {
      const a = await replica();
      for (const body of [
        { level: 'high', state: 'confirmedSafe' },
        { level: 'low', state: 'dismissed' },
        { level: 'medium', state: 'confirmedCompromised' },
        { level: 'high', state: 'remediated' },
      ]) {
        const res = await request(a.api).put(`${T}/signals/agents/agt-7f3a/risk`).send(body).expect(400);
        expect(res.body.error.code).toBe('invalid_request');
      }
      await request(a.api)
        .put(`${T}/signals/agents/agt-7f3a/risk`)
        .send({ level: 'none', state: 'confirmedSafe' })
        .expect(200);
      await request(a.api)
        .put(`${T}/signals/agents/agt-7f3a/risk`)
        .send({ level: 'high', state: 'confirmedCompromised' })
        .expect(200);
    });
  });

  describe('ID Protection actions', () => {
    it('confirmCompromised / confirmSafe / dismiss change the next decision on the other replica within 100 ms', async () => {
      const a = await replica();
      const b = await replica();
      await seeded(a.store);
      const body = decideBody({ client: CORP });
      // Warm B's cache with the "no risk" answer; its TTL (60 s) is far longer than the bound tested.
      expect(riskOf((await request(b.api).post('/v1/decide').send(body).expect(200)).body)).toBe('none');

      await request(a.api)
        .post(`${T}/risky-agents/confirmCompromised`)
        .send({ agentIds: ['agt-7f3a'] })
        .expect(204);
      const compromised = await until(
        b,
        body,
        (r) => riskOf(r) === 'high' && r.decision === 'deny',
        performance.now(),
      );
      expect(riskOf(compromised.out)).toBe('high');
      expect(compromised.out.decision).toBe('deny');
      expect(codes(compromised.out)).toContain('ca_block');
      expect(compromised.elapsed).toBeLessThan(100);
      figures.push(`confirmCompromised ${compromised.elapsed.toFixed(1)} ms`);

      const listed = await request(a.api).get(`${T}/risky-agents`).expect(200);
      expect(listed.body.value).toEqual([
        expect.objectContaining({
          '@odata.type': '#microsoft.graph.riskyAgentIdentity',
          id: 'agt-7f3a',
          riskLevel: 'high',
          riskState: 'confirmedCompromised',
          riskDetail: 'adminConfirmedAgentCompromised',
        }),
      ]);

      for (const action of ['confirmSafe', 'dismiss'] as const) {
        if (action === 'dismiss') {
          await request(a.api)
            .post(`${T}/risky-agents/confirmCompromised`)
            .send({ agentIds: ['agt-7f3a'] });
          expect(riskOf((await until(b, body, (r) => riskOf(r) === 'high', performance.now())).out)).toBe(
            'high',
          );
        }
        await request(a.api)
          .post(`${T}/risky-agents/${action}`)
          .send({ agentIds: ['agt-7f3a'] })
          .expect(204);
        const cleared = await until(
          b,
          body,
          (r) => riskOf(r) === 'none' && r.decision === 'allow',
          performance.now(),
        );
        expect(riskOf(cleared.out)).toBe('none');
        expect(cleared.out.decision).toBe('allow');
        expect(cleared.elapsed).toBeLessThan(100);
        figures.push(`${action} ${cleared.elapsed.toFixed(1)} ms`);
        const risk = await request(a.api).get(`${T}/signals/agents/agt-7f3a/risk`).expect(200);
        expect(risk.body).toMatchObject({
          level: 'none',
          state: action === 'dismiss' ? 'dismissed' : 'confirmedSafe',
        });
      }
      expect((await request(a.api).get(`${T}/risky-agents`).expect(200)).body.value).toEqual([]);
    });

    it("a blueprint's risk covers its agents, named by the blueprint or its principal id", async () => {
      const a = await replica();
      const b = await replica();
      await seeded(a.store);
      const bp = (await request(a.api).get(`${T}/blueprints/bp-invoice`).expect(200)).body as Record<
        string,
        unknown
      >;
      const { id: _i, updated_at: _u, ...writable } = bp;
      await request(a.api)
        .put(`${T}/blueprints/bp-invoice`)
        .send({ ...writable, principal_id: 'sp-invoice' })
        .expect(200);
      const body = decideBody({ client: CORP });
      expect(riskOf((await request(b.api).post('/v1/decide').send(body).expect(200)).body)).toBe('none');

      await request(a.api)
        .post(`${T}/risky-agents/confirmCompromised`)
        .send({ agentIds: ['sp-invoice'] })
        .expect(204);
      const denied = await until(
        b,
        body,
        (r) => riskOf(r) === 'high' && r.decision === 'deny',
        performance.now(),
      );
      expect(riskOf(denied.out)).toBe('high');
      expect(codes(denied.out)).toContain('ca_block');
      expect(denied.elapsed).toBeLessThan(100);
      figures.push(`blueprint principal confirmCompromised ${denied.elapsed.toFixed(1)} ms`);
      // The agent's own risk record is untouched: the blueprint's is what raises it.
      await request(a.api).get(`${T}/signals/agents/agt-7f3a/risk`).expect(404);
      const listed = (await request(a.api).get(`${T}/risky-agents`).expect(200)).body.value as unknown[];
      expect(listed).toEqual([
        expect.objectContaining({
          '@odata.type': '#microsoft.graph.riskyAgentIdentityBlueprintPrincipal',
          id: 'sp-invoice',
          blueprintId: 'bp-invoice',
        }),
      ]);

      await request(a.api)
        .post(`${T}/risky-agents/dismiss`)
        .send({ agentIds: ['bp-invoice'] })
        .expect(204);
      expect(riskOf((await until(b, body, (r) => riskOf(r) === 'none', performance.now())).out)).toBe('none');
    });

    it('unknown ids refuse the whole action (404 listing each), nothing written', async () => {
      const a = await replica();
      await seeded(a.store);
      const res = await request(a.api)
        .post(`${T}/risky-agents/confirmCompromised`)
        .send({ agentIds: ['agt-7f3a', 'nobody', 'ghost'] })
        .expect(404);
      expect(res.body.error.code).toBe('not_found');
      expect(res.body.error.details.map((d: { pointer: string }) => d.pointer)).toEqual([
        '/agentIds/1',
        '/agentIds/2',
      ]);
      await request(a.api).get(`${T}/signals/agents/agt-7f3a/risk`).expect(404);
      await request(a.api).post(`${T}/risky-agents/dismiss`).send({ agentIds: [] }).expect(400);
      await request(a.api)
        .post(`${T}/risky-agents/dismiss`)
        .send({ ids: ['agt-7f3a'] })
        .expect(400);
    });

    it('an agent user is acted on by its id and listed as riskyAgentUser', async () => {
      const a = await replica();
      await seeded(a.store);
      await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({ agent_id: 'agt-lab-1', enabled: true })
        .expect(200);
      await request(a.api)
        .post(`${T}/risky-agents/confirmCompromised`)
        .send({ agentIds: ['au-1'] })
        .expect(204);
      const listed = (await request(a.api).get(`${T}/risky-agents`).expect(200)).body.value as unknown[];
      expect(listed).toEqual([
        expect.objectContaining({ '@odata.type': '#microsoft.graph.riskyAgentUser', id: 'au-1' }),
      ]);
      const risk = await request(a.api).get(`${T}/signals/agent-users/au-1/risk`).expect(200);
      expect(risk.body).toMatchObject({ level: 'high', state: 'confirmedCompromised' });
    });
  });

  describe('the agent-user binding', () => {
    it('a token request whose agent user is linked to another agent is denied agent_user_mismatch', async () => {
      const a = await replica();
      await seeded(a.store);
      await request(a.api)
        .put(`${T}/agent-users/au-1`)
        .send({ agent_id: 'agt-lab-1', enabled: true })
        .expect(200);
      const body = decideBody({ flow: 'agent_user', user: { id: 'au-1' }, client: CORP });
      const out = (await request(a.api).post('/v1/decide').send(body).expect(200)).body as DecideResponse;
      expect(out.decision).toBe('deny');
      expect(codes(out)).toContain('agent_user_mismatch');
      expect(out.reasons.find((r) => r.code === 'agent_user_mismatch')?.message).toBe(
        "Agent user 'au-1' belongs to agent 'agt-lab-1', not to Agent 'agt-7f3a'.",
      );
      const missing = decideBody({ flow: 'agent_user', user: { id: 'au-404' }, client: CORP });
      expect(codes((await request(a.api).post('/v1/decide').send(missing).expect(200)).body)).toContain(
        'agent_user_not_found',
      );
    });

    it('one round trip per decision: agent, blueprint and its risk, agent user, resource, links', async () => {
      const store = await redisStore(redis.url, { cacheTtlMs: 60_000 });
      stores.push(store);
      await seeded(store);
      await store.put('agent-user', 'default', 'au-1', { id: 'au-1', agent_id: 'agt-7f3a', enabled: true });
      await store.put('risk:blueprint', 'default', 'bp-invoice', { level: 'medium' });
      const resource = { id: 'app-pay', identifier_uris: ['api://payments'] };
      await store.write('default', [
        { kind: 'resource', id: 'app-pay', value: resource },
        { kind: 'resource-uri', id: 'api://payments', value: resource },
      ]);
      const monitor = await roundTrips(redis.url);
      try {
        const q = {
          tenant: 'default',
          agentId: 'agt-7f3a',
          userId: 'au-1',
          agentUser: true,
          resource: 'api://payments',
        };
        const cold = await store.readSignals(q);
        expect(cold).toMatchObject({
          agent: { id: 'agt-7f3a' },
          blueprint: { id: 'bp-invoice' },
          blueprintRisk: { level: 'medium' },
          agentUser: { agent_id: 'agt-7f3a' },
          resource: { id: 'app-pay' },
          resourceAgent: null,
          unavailable: false,
        });
        // The agent and its blueprint cached, the resource evicted: one MGET, blueprint risk included.
        store.evict(recordKey('default', 'resource-uri', 'api://payments'));
        store.evict(recordKey('default', 'risk:blueprint', 'bp-invoice'));
        const warm = await store.readSignals(q);
        expect(warm.resource).toMatchObject({ id: 'app-pay' });
        expect(warm.blueprintRisk).toMatchObject({ level: 'medium' });
        // A resource that is an agent identity is recognised in the same read.
        const asAgent = await store.readSignals({ ...q, resource: 'agt-research-1' });
        expect(asAgent.resourceAgent).toEqual({ kind: 'agent', id: 'agt-research-1' });
        await new Promise((r) => setTimeout(r, 100));
        expect(monitor.commands.map((c) => c[0]?.toLowerCase())).toEqual([
          expect.stringMatching(/^eval(sha)?$/),
          'mget',
          'mget',
        ]);
      } finally {
        monitor.stop();
      }
    });
  });
});

describe('the agent-user binding under random directories (memory store, real WASM decide)', () => {
  it('a mismatched agent user and agent is never allowed', async () => {
    const store = await seeded(new MemoryStore());
    const app = await makeApp({ store, engine: await makeEngine(ENGINE) });
    const agents = ['agt-7f3a', 'agt-research-1', 'agt-lab-1', 'agt-break-glass'];
    const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,15}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          userId: id,
          linkedTo: fc.oneof(fc.constantFrom(...agents), id),
          requester: fc.constantFrom(...agents),
          enabled: fc.boolean(),
          resource: fc.constantFrom('api://payments', 'api://docs', 'api://search'),
        }),
        async ({ userId, linkedTo, requester, enabled, resource }) => {
          await store.put('agent-user', 'default', userId, { id: userId, agent_id: linkedTo, enabled });
          const body = decideBody({
            agent_id: requester,
            flow: 'agent_user',
            user: { id: userId },
            resource,
            client: CORP,
          });
          const out = (await request(app.api).post('/v1/decide').send(body).expect(200))
            .body as DecideResponse;
          if (linkedTo !== requester) {
            expect(out.decision).toBe('deny');
            expect(codes(out)).toContain('agent_user_mismatch');
          } else {
            expect(codes(out)).not.toContain('agent_user_mismatch');
          }
          await store.delete('agent-user', 'default', userId);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('the decide request (CONTRACT B)', () => {
  it('accepts user groups, roles, guest type, the full device, client app type and compliant network', async () => {
    const app = await makeApp({ store: await seeded(new MemoryStore()), engine: await makeEngine(ENGINE) });
    const user = {
      id: 'u-42',
      groups: ['g-finance'],
      roles: ['62e90394-69f5-4237-9190-012177145e10'],
      guest_type: 'b2bCollaborationGuest',
      device: {
        id: 'dev-1',
        platform: 'windows',
        compliant: true,
        trust_type: 'AzureAD',
        display_name: 'Laptop',
        manufacturer: 'Contoso',
        model: 'X1',
        operating_system: 'Windows',
        operating_system_version: '10.0.22631',
        mdm_app_id: '0000000a-0000-0000-c000-000000000000',
        profile_type: 'RegisteredDevice',
        device_ownership: 'Company',
        enrollment_profile_name: 'Autopilot',
        system_labels: ['AzureResource'],
        physical_ids: ['[ZTDID]:abc'],
        extension_attributes: { extensionAttribute1: 'a', extensionAttribute15: 'z' },
      },
    };
    const client = { ...CORP, app_type: 'mobileAppsAndDesktopClients', compliant_network: true };
    const body = decideBody({ flow: 'on_behalf_of', user, client });
    await request(app.api).post('/v1/decide').send(body).expect(200);
    const wrong: [Record<string, unknown>, string][] = [
      [{ ...user, guest_type: 'guest' }, '/user/guest_type'],
      [{ ...user, device: { trust_type: 'Joined' } }, '/user/device/trust_type'],
      [
        { ...user, device: { extension_attributes: { extensionAttribute16: 'x' } } },
        '/user/device/extension_attributes',
      ],
      [{ ...user, groups: ['g', 'g'] }, '/user/groups'],
    ];
    for (const [u, pointer] of wrong) {
      const res = await request(app.api)
        .post('/v1/decide')
        .send(decideBody({ flow: 'on_behalf_of', user: u }))
        .expect(400);
      expect(JSON.stringify(res.body.error.details)).toContain(pointer);
    }
    const badClient = await request(app.api)
      .post('/v1/decide')
      .send(decideBody({ client: { app_type: 'legacy' } }))
      .expect(400);
    expect(badClient.body.error.details[0].pointer).toBe('/client/app_type');
    // Still required: a user for the user flows.
    await request(app.api)
      .post('/v1/decide')
      .send(decideBody({ flow: 'agent_user' }))
      .expect(400);
  });
});
