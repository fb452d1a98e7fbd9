/**
 * The memo of policy results (EvaluationMemo) is exact: a remembered result is the one evaluation
 * would give. Identical inputs share a result; anything that changes a decision (a risk level, a
 * record, the request, the second, the revision) is a different input and is evaluated.
 */
import { cpSync } from 'node:fs';
import fc from 'fast-check';
import request from 'supertest';
import { BENCH_NOW, decideInput, writeDataDir } from '../../bench/lib/fixtures';
import type { PolicyInput } from '../../src/decision/input';
import { EvaluationMemo } from '../../src/engine/evaluation-memo';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import { createEngine } from '../../src/services';
import { MemoryStore } from '../../src/store/memory-store';
import { TestClock, decideBody, makeApp, seeded, silentLogger, testConfig } from '../helpers/app';
import { TestIssuer } from '../helpers/tokens';

async function engineWith(memoEntries: number): Promise<PolicyEngine> {
  const engine = createEngine(testConfig({ evalMemoEntries: memoEntries }), {
    logger: silentLogger,
    clock: () => BENCH_NOW,
  });
  await engine.reload();
  return engine;
}

const RISK = ['none', 'low', 'medium', 'high'] as const;

describe('the memo of policy results', () => {
  let memo: PolicyEngine;
  let plain: PolicyEngine;

  beforeAll(async () => {
    memo = await engineWith(64);
    plain = await engineWith(0);
  }, 60_000);

  it('answers an identical input with the frozen result of its first evaluation', () => {
    const first = memo.evaluate('agent/decide/result', decideInput()).result as Record<string, unknown>;
    const again = memo.evaluate('agent/decide/result', decideInput()).result;
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first['reasons'])).toBe(true);
    expect(() => {
      (first['reasons'] as unknown[]).push('x');
    }).toThrow(TypeError);
    expect(memo.current!.policy.memoSize).toBeGreaterThan(0);
    expect(plain.current!.policy.memoSize).toBe(0);
  });

  it('decides exactly as evaluation does, over generated inputs asked twice each', () => {
    const arb = fc.record({
      flow: fc.constantFrom('autonomous', 'on_behalf_of'),
      agentRisk: fc.constantFrom(...RISK),
      userRisk: fc.constantFrom(...RISK),
      revoked: fc.boolean(),
      enabled: fc.boolean(),
      scopes: fc.subarray(['payments.read', 'payments.write', 'invoices.read'], { minLength: 1 }),
      ip: fc.constantFrom('203.0.113.7', '198.51.100.7', '192.0.2.1'),
      second: fc.integer({ min: 0, max: 3 }),
      entrypoint: fc.constantFrom('agent/decide/result' as const, 'agent/whatif/result' as const),
    });
    const seen = new Set<string>();
    fc.assert(
      fc.property(arb, (c) => {
        const input = variant(c);
        seen.add(JSON.stringify(input));
        const expected = plain.evaluate(c.entrypoint, variant(c)).result;
        expect(expected).toBeDefined();
        expect(memo.evaluate(c.entrypoint, variant(c)).result).toEqual(expected);
        expect(memo.evaluate(c.entrypoint, variant(c)).result).toEqual(expected);
      }),
      { numRuns: 400, seed: 20261205 },
    );
    // The corpus holds different inputs, and different decisions among them.
    expect(seen.size).toBeGreaterThan(100);
  });

  it('keeps at most its number of entries and never remembers an oversized or pre-serialised input', async () => {
    const small = await engineWith(2);
    const policy = small.current!.policy;
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
      const input = decideInput();
      input.request.client = { ip };
      small.evaluate('agent/decide/result', input);
    }
    expect(policy.memoSize).toBe(2);

    const off = await engineWith(0);
    const large = decideInput();
    (large.request as unknown as Record<string, unknown>)['note'] = 'x'.repeat(20_000);
    const offPolicy = off.current!.policy;
    off.evaluate('agent/decide/result', large);
    expect(offPolicy.memoSize).toBe(0);

    const fresh = await engineWith(16);
    const p = fresh.current!.policy;
    p.evaluate('agent/decide/result', large);
    p.evaluate('agent/decide/result', JSON.stringify(decideInput()));
    p.evaluate('agent/decide/result', decideInput(), 'default');
    expect(p.memoSize).toBe(0);
  });

  it('holds its size budget whatever the entry count allows', () => {
    // Room for three entries of a 200-character input (each counted with a 2 KiB result allowance).
    const m = new EvaluationMemo({ entries: 100, maxInputLength: 16_384, maxSize: 3 * (200 + 2048) });
    for (let i = 0; i < 5; i++) m.set(0, String(i).padEnd(200, 'x'), { i });
    expect(m.size).toBe(3);
    expect(m.get(0, '4'.padEnd(200, 'x'))).toEqual({ i: 4 });
    expect(m.get(0, '0'.padEnd(200, 'x'))).toBeUndefined();
    // Longer inputs are kept under their digest: exact still, one character apart is another key.
    const d = new EvaluationMemo({ entries: 100, maxInputLength: 16_384, maxSize: 1 << 20 });
    const long = 'y'.repeat(4000);
    d.set(0, `${long}a`, { a: 1 });
    expect(d.get(0, `${long}a`)).toEqual({ a: 1 });
    expect(d.get(0, `${long}b`)).toBeUndefined();
    expect(d.get(0, `b${long}`)).toBeUndefined();
  });

  it('starts empty with every new revision', async () => {
    const dir = writeDataDir(2);
    const engine = createEngine(testConfig({ dataDir: dir, evalMemoEntries: 16 }), {
      logger: silentLogger,
      clock: () => BENCH_NOW,
    });
    await engine.reload();
    engine.evaluate('agent/decide/result', decideInput());
    expect(engine.current!.policy.memoSize).toBe(1);
    cpSync(writeDataDir(3), dir, { recursive: true, force: true });
    expect((await engine.reload()).changed).toBe(true);
    expect(engine.current!.policy.memoSize).toBe(0);
  });
});

describe('decisions in one second over HTTP', () => {
  // Every request below is made at the same instant: only the input can tell them apart.
  const clock = new TestClock();

  it('a risk raised between two identical decide requests denies the second; lowered, allows again', async () => {
    const t = await makeApp({ store: await seeded(new MemoryStore(), clock.now), clock: clock.now });
    const body = decideBody({ client: { ip: '198.51.100.7' } });
    const decide = async () =>
      ((await request(t.api).post('/v1/decide').send(body).expect(200)).body as { decision: string })
        .decision;
    const risk = (level: string) =>
      request(t.api).put('/v1/tenants/default/signals/agents/agt-7f3a/risk').send({ level }).expect(200);

    expect(await decide()).toBe('allow');
    expect(await decide()).toBe('allow');
    await risk('high');
    expect(await decide()).toBe('deny');
    await risk('none');
    expect(await decide()).toBe('allow');
  });

  it('a gateway check repeated with the same token is denied once the agent is disabled or risky', async () => {
    const issuer = await TestIssuer.create(clock.now);
    const t = await makeApp({
      store: await seeded(new MemoryStore(), clock.now),
      clock: clock.now,
      trustedIssuers: [issuer.trusted()],
    });
    const token = await issuer.token();
    const check = async () =>
      (
        await request(t.api)
          .get('/v1/authorize')
          .set('x-original-method', 'GET')
          .set('x-original-uri', '/payments/42')
          .set('x-forwarded-for', '198.51.100.7')
          .set('authorization', `Bearer ${token}`)
      ).status;

    expect(await check()).toBe(200);
    expect(await check()).toBe(200);
    await request(t.api)
      .put('/v1/tenants/default/signals/agents/agt-7f3a/risk')
      .send({ level: 'high' })
      .expect(200);
    expect(await check()).toBe(403);
    await request(t.api)
      .put('/v1/tenants/default/signals/agents/agt-7f3a/risk')
      .send({ level: 'none' })
      .expect(200);
    expect(await check()).toBe(200);
    const agent = (await request(t.api).get('/v1/tenants/default/agents/agt-7f3a').expect(200))
      .body as Record<string, unknown>;
    const { id: _id, updated_at: _u, ...record } = agent;
    await request(t.api)
      .put('/v1/tenants/default/agents/agt-7f3a')
      .send({ ...record, enabled: false })
      .expect(200);
    expect(await check()).toBe(403);
  });

  it('gives every decision its own id, also when its result was remembered', async () => {
    const t = await makeApp({ store: await seeded(new MemoryStore(), clock.now), clock: clock.now });
    const body = decideBody({ client: { ip: '198.51.100.7' } });
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add(
        ((await request(t.api).post('/v1/decide').send(body).expect(200)).body as { decision_id: string })
          .decision_id,
      );
    }
    expect(ids.size).toBe(5);
  });
});

interface Variant {
  flow: string;
  agentRisk: (typeof RISK)[number];
  userRisk: (typeof RISK)[number];
  revoked: boolean;
  enabled: boolean;
  scopes: string[];
  ip: string;
  second: number;
  entrypoint: string;
}

/** A fresh input object per call: the memo must key by content, not by object identity. */
function variant(c: Variant): PolicyInput {
  const input = decideInput();
  input.now = { epoch_seconds: input.now.epoch_seconds + c.second, rfc3339: input.now.rfc3339 };
  input.request.flow = c.flow as PolicyInput['request']['flow'];
  input.request.scopes = c.scopes;
  input.request.client = { ip: c.ip };
  if (c.flow === 'autonomous') delete input.request.user;
  input.signals.agent_risk = { level: c.agentRisk };
  input.signals.user_risk = { level: c.userRisk };
  input.signals.revocation = c.revoked
    ? ({ revoked_at_epoch: input.now.epoch_seconds } as PolicyInput['signals']['revocation'])
    : null;
  if (input.directory.agent !== null)
    input.directory.agent = { ...input.directory.agent, enabled: c.enabled };
  return input;
}
