import request from 'supertest';
import type { Decision } from '../../src/decision/run';
import type { DecideResponse } from '../../src/decision/service';
import { MemoryDetectionState } from '../../src/governance/detection-state';
import { Detector } from '../../src/governance/detections';
import type { GovernanceEvent } from '../../src/governance/trail';
import { MemoryStore } from '../../src/store/memory-store';
import type { AgentRiskRecord } from '../../src/store/types';
import {
  TestClock,
  decideBody,
  makeApp,
  redisStore,
  seeded,
  silentLogger,
  type TestApp,
} from '../helpers/app';
import { RedisProcess } from '../helpers/redis-server';

const T = '/v1/tenants/default';
const AGENT = { blueprint_id: 'bp-invoice', display_name: 'Watched', enabled: true, sponsors: ['u-1'] };
const DAY = 86_400_000;

function detector(t: TestApp) {
  const d = t.services.detector;
  if (d === null) throw new Error('detections are off');
  return d;
}

async function decide(
  t: TestApp,
  agent: string,
  overrides: Record<string, unknown> = {},
): Promise<DecideResponse> {
  return (
    await request(t.api)
      .post('/v1/decide')
      .send(decideBody({ agent_id: agent, scopes: ['payments.read'], ...overrides }))
      .expect(200)
  ).body as DecideResponse;
}

/** A request the directory refuses (the blueprint does not permit the resource): a failed access. */
const refused = (t: TestApp, agent: string) => decide(t, agent, { resource: 'api://hr' });

async function risk(t: TestApp, agent: string): Promise<AgentRiskRecord> {
  return (await request(t.api).get(`${T}/signals/agents/${agent}/risk`).expect(200)).body as AgentRiskRecord;
}

const types = (r: AgentRiskRecord) => (r.detections ?? []).map((d) => (d as { type: string }).type);

describe('behaviour detections (one replica, memory store)', () => {
  const clock = new TestClock();
  let t: TestApp;

  beforeAll(async () => {
    t = await makeApp({
      clock: clock.now,
      store: await seeded(new MemoryStore(), clock.now),
      config: { detections: true, detectionsFlushMs: 600_000 },
    });
  });
  // Each test starts with an empty queue: a decision left over must not be judged at another's time.
  afterEach(async () => {
    await detector(t).flush();
  });
  afterAll(async () => {
    await t.services.close(1000);
  });

  it('raises a burst of denied requests to high risk, which the high-risk policy then blocks; dismiss clears it', async () => {
    await request(t.api).put(`${T}/agents/agt-burst`).send(AGENT).expect(200);
    expect((await decide(t, 'agt-burst')).decision).toBe('allow');
    for (let i = 0; i < 19; i++) await refused(t, 'agt-burst');
    expect(await detector(t).flush()).toEqual([]);
    await refused(t, 'agt-burst');
    const raised = await detector(t).flush();
    expect(raised.map((d) => [d.type, d.level])).toEqual([['failedAccessAttempt', 'high']]);
    expect(raised[0]?.evidence).toMatchObject({ denies: 20 });
    const r = await risk(t, 'agt-burst');
    expect(r).toMatchObject({ level: 'high', state: 'atRisk' });
    expect(types(r)).toEqual(['failedAccessAttempt']);

    const blocked = await decide(t, 'agt-burst');
    expect(blocked.decision).toBe('deny');
    expect(blocked.reasons).toContainEqual(
      expect.objectContaining({ code: 'ca_block', policy_id: 'ca-block-high-risk-agents' }),
    );
    const trail = (await request(t.api).get(`${T}/governance/audit?agent_id=agt-burst`).expect(200)).body as {
      value: GovernanceEvent[];
    };
    expect(trail.value[0]).toMatchObject({
      actor: 'system:detections',
      action: 'detect',
      target: { type: 'risk:agent', id: 'agt-burst' },
      reason: 'failedAccessAttempt',
      before: null,
      after: { level: 'high' },
    });

    await request(t.api)
      .post(`${T}/risky-agents/dismiss`)
      .send({ agentIds: ['agt-burst'] })
      .expect(204);
    expect((await decide(t, 'agt-burst')).decision).toBe('allow');
    // The burst before the dismissal does not count again, nor does a small one after it.
    clock.advance(60_000);
    for (let i = 0; i < 5; i++) await refused(t, 'agt-burst');
    expect(await detector(t).flush()).toEqual([]);
    expect((await decide(t, 'agt-burst')).decision).toBe('allow');
  });

  it('learns a new agent before it calls a resource unfamiliar, and then raises it', async () => {
    clock.ms = Date.parse('2027-02-01T00:00:00Z');
    await request(t.api).put(`${T}/agents/agt-learn`).send(AGENT).expect(200);
    await decide(t, 'agt-learn');
    await decide(t, 'agt-learn', { resource: 'api://invoices', scopes: ['invoices.read'] });
    expect(await detector(t).flush()).toEqual([]);
    clock.advance(DAY);
    // Still learning: a resource first asked for now is not unfamiliar.
    await decide(t, 'agt-learn', { resource: 'api://search' });
    expect(await detector(t).flush()).toEqual([]);
    clock.advance(7 * DAY);
    await decide(t, 'agt-learn');
    await decide(t, 'agt-learn', { resource: 'api://search' });
    expect(await detector(t).flush()).toEqual([]);
    await decide(t, 'agt-learn', { resource: 'api://docs' });
    const raised = await detector(t).flush();
    expect(raised.map((d) => [d.type, d.level, d.evidence])).toEqual([
      ['unfamiliarResourceAccess', 'medium', { resources: ['api://docs'] }],
    ]);
    // Medium is reported; the example tenant blocks only high.
    const out = await decide(t, 'agt-learn');
    expect(out.signals.agent_risk).toBe('medium');
    expect(out.decision).toBe('allow');
  });

  it('raises a grant spike far above the agent baseline, once the baseline is known', async () => {
    clock.ms = Date.parse('2027-03-01T00:00:00Z');
    await request(t.api)
      .put(`${T}/detection-settings`)
      .send({
        signInSpike: { min_count: 8, factor: 3, window_seconds: 300, baseline_windows: 2 },
        unfamiliarResourceAccess: { enabled: false },
      })
      .expect(200);
    await request(t.api).put(`${T}/agents/agt-spike`).send(AGENT).expect(200);
    // A spike before any baseline was observed is not judged.
    for (let i = 0; i < 10; i++) await decide(t, 'agt-spike', { requested_ttl_seconds: 60 + i });
    expect(await detector(t).flush()).toEqual([]);
    // The baseline: the two windows before the current one hold one grant.
    clock.advance(700_000);
    await decide(t, 'agt-spike', { requested_ttl_seconds: 1 });
    expect(await detector(t).flush()).toEqual([]);
    clock.advance(300_000);
    for (let i = 0; i < 9; i++) await decide(t, 'agt-spike', { requested_ttl_seconds: 100 + i });
    const raised = await detector(t).flush();
    expect(raised.map((d) => d.type)).toEqual(['signInSpike']);
    expect(raised[0]?.evidence).toMatchObject({ grants: 9 });
  });

  it('raises an on-behalf-of request with a risky user', async () => {
    await request(t.api).put(`${T}/agents/agt-obo`).send(AGENT).expect(200);
    await decide(t, 'agt-obo', {
      flow: 'on_behalf_of',
      user: { id: 'u-9', amr: ['pwd', 'mfa'], risk: 'low' },
    });
    expect(await detector(t).flush()).toEqual([]);
    await decide(t, 'agt-obo', {
      flow: 'on_behalf_of',
      user: { id: 'u-9', amr: ['pwd', 'mfa'], risk: 'high' },
    });
    const raised = await detector(t).flush();
    expect(raised.map((d) => [d.type, d.level])).toEqual([['riskyUserSignIn', 'high']]);
  });

  it('turns a detection off per tenant, and refuses bad settings with 400 and the pointer', async () => {
    await request(t.api)
      .put(`${T}/detection-settings`)
      .send({ failedAccessAttempt: { enabled: false } })
      .expect(200);
    await request(t.api).put(`${T}/agents/agt-quiet`).send(AGENT).expect(200);
    for (let i = 0; i < 30; i++) await refused(t, 'agt-quiet');
    expect(await detector(t).flush()).toEqual([]);
    for (const [body, pointer] of [
      [{ failedAccessAttempt: { threshold: 0 } }, '/failedAccessAttempt/threshold'],
      [{ signInSpike: { level: 'severe' } }, '/signInSpike/level'],
      [{ other: {} }, '/other'],
      [{ riskyUserSignIn: { enabled: 'yes' } }, '/riskyUserSignIn/enabled'],
    ] as const) {
      const res = await request(t.api).put(`${T}/detection-settings`).send(body).expect(400);
      expect(JSON.stringify(res.body.error.details)).toContain(`"pointer":"${pointer}"`);
    }
    const trail = (await request(t.api).get(`${T}/governance/audit?limit=5`).expect(200)).body as {
      value: GovernanceEvent[];
    };
    expect(trail.value.some((e) => e.target.type === 'detection-settings')).toBe(true);
  });

  it('drops events beyond a full queue without waiting, and counts them', async () => {
    const seen: Decision[] = [];
    const spy = jest.spyOn(detector(t), 'note').mockImplementation((d) => seen.push(d));
    await decide(t, 'agt-burst');
    spy.mockRestore();
    expect(seen).toHaveLength(1);
    const dropped: number[] = [];
    const small = new Detector(
      {
        store: t.services.store,
        state: new MemoryDetectionState(),
        clock: clock.now,
        logger: silentLogger,
        onDropped: (n) => dropped.push(n),
      },
      1,
    );
    small.note(seen[0]!);
    small.note(seen[0]!);
    expect(small.dropped).toBe(1);
    expect(dropped).toEqual([1]);
    // The service's own detector counts its drops in the metric.
    const other = await makeApp({
      clock: clock.now,
      store: await seeded(new MemoryStore(), clock.now),
      config: { detections: true, detectionsFlushMs: 600_000 },
    });
    try {
      for (let i = 0; i <= 50_000; i++) detector(other).note(seen[0]!);
      expect(detector(other).dropped).toBe(1);
      expect((await other.services.metrics.detectionEventsDropped.get()).values[0]?.value).toBe(1);
    } finally {
      await other.services.close(1000);
    }
  });

  it('ignores requests for unknown agents (nothing to raise, nothing counted)', async () => {
    for (let i = 0; i < 30; i++) await refused(t, 'agt-nobody');
    expect(await detector(t).flush()).toEqual([]);
    await request(t.api).get(`${T}/signals/agents/agt-nobody/risk`).expect(404);
  });
});

describe('behaviour detections across two replicas sharing Redis', () => {
  const clock = new TestClock();
  let redis: RedisProcess;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    redis = await RedisProcess.start();
    for (let i = 0; i < 2; i++)
      apps.push(
        await makeApp({
          clock: clock.now,
          store: await seeded(await redisStore(redis.url, { clock: clock.now }), clock.now),
          config: { detections: true, detectionsFlushMs: 600_000 },
        }),
      );
  });
  afterAll(async () => {
    for (const a of apps) await a.services.close(1000);
    await redis.stop();
  });

  it('detects a burst split over both replicas, and both then block', async () => {
    const [a, b] = apps as [TestApp, TestApp];
    await request(a.api).put(`${T}/agents/agt-split`).send(AGENT).expect(200);
    for (let i = 0; i < 10; i++) {
      await refused(a, 'agt-split');
      await refused(b, 'agt-split');
    }
    const raised = [...(await detector(a).flush()), ...(await detector(b).flush())];
    expect(raised.map((d) => d.type)).toEqual(['failedAccessAttempt']);
    for (const t of apps) {
      const out = await decide(t, 'agt-split');
      expect(out.decision).toBe('deny');
      expect(out.signals.agent_risk).toBe('high');
    }
  });
});
