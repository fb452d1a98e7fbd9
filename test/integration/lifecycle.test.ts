import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, createHash } from 'node:crypto';
import request from 'supertest';
import type { ApiKeyEntry } from '../../src/config';
import type { DecideResponse } from '../../src/decision/service';
import type { LifecycleNotice } from '../../src/governance/lifecycle-worker';
import type { GovernanceEvent } from '../../src/governance/trail';
import { MemoryStore } from '../../src/store/memory-store';
import { TestClock, decideBody, makeApp, seeded, type TestApp } from '../helpers/app';

const T = '/v1/tenants/default';
const DAY = 86_400_000;
const SECRET = 'lifecycle-secret-0123456789';
const keyOf = (name: string): string => `key-${name}-0123456789`;
const entry = (name: string, roles: ApiKeyEntry['roles']): ApiKeyEntry => ({
  name,
  roles,
  sha256: createHash('sha256').update(keyOf(name)).digest('hex'),
});

/** A webhook receiver: every notice with the time (test clock) it arrived and its signature. */
class Receiver {
  readonly notices: { at: number; body: LifecycleNotice; signature: string | undefined; raw: string }[] = [];
  fail = false;
  private server: Server | null = null;
  constructor(private readonly clock: TestClock) {}
  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        if (this.fail) {
          res.statusCode = 503;
          res.end();
          return;
        }
        this.notices.push({
          at: this.clock.ms,
          body: JSON.parse(raw) as LifecycleNotice,
          signature: req.headers['x-pdp-signature'] as string | undefined,
          raw,
        });
        res.end('ok');
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  async stop(): Promise<void> {
    this.server?.close();
    if (this.server !== null) await once(this.server, 'close');
  }
}

const AGENT = {
  blueprint_id: 'bp-invoice',
  display_name: 'Lifecycle agent',
  enabled: true,
  sponsors: ['u-sponsor'],
  attributes: { manager: 'u-manager' },
};

describe('lifecycle policies', () => {
  const clock = new TestClock();
  const receiver = new Receiver(clock);
  let t: TestApp;
  const admin = () => ({
    put: (path: string, body: object) => request(t.api).put(path).set('x-api-key', keyOf('admin')).send(body),
    get: (path: string) => request(t.api).get(path).set('x-api-key', keyOf('admin')),
  });
  const decide = async (agent: string): Promise<DecideResponse> =>
    (
      await request(t.api)
        .post('/v1/decide')
        .set('x-api-key', keyOf('issuer'))
        .send(decideBody({ agent_id: agent, scopes: ['payments.read'] }))
        .expect(200)
    ).body as DecideResponse;
  const codes = (r: DecideResponse) => r.reasons.map((x) => x.code);
  const worker = () => {
    const w = t.services.lifecycle.worker;
    if (w === null) throw new Error('the lifecycle worker is off');
    return w;
  };
  const trail = async (agent: string): Promise<GovernanceEvent[]> =>
    (
      (await admin().get(`${T}/governance/audit?agent_id=${agent}`).expect(200)).body as {
        value: GovernanceEvent[];
      }
    ).value;

  beforeAll(async () => {
    const url = await receiver.start();
    t = await makeApp({
      clock: clock.now,
      store: await seeded(new MemoryStore(), clock.now),
      apiKeys: [
        entry('admin', ['admin']),
        entry('issuer', ['decide']),
        entry('u-sponsor', ['decide']),
        entry('u-other', ['decide']),
      ],
      config: { lifecycleWebhookUrl: url, lifecycleWebhookSecret: SECRET, lifecycleIntervalSeconds: 3600 },
    });
  });
  afterAll(async () => {
    await t.services.close(1000);
    await receiver.stop();
  });

  it('keeps an agent that lost its last sponsor working through the grace period, notifies, then disables it', async () => {
    await admin().put(`${T}/agents/agt-lc-1`, AGENT).expect(200);
    expect((await decide('agt-lc-1')).decision).toBe('allow');
    clock.advance(1000);
    await admin()
      .put(`${T}/agents/agt-lc-1`, { ...AGENT, sponsors: [] })
      .expect(200);
    const lostAt = clock.ms;

    const inGrace = await decide('agt-lc-1');
    expect(inGrace.decision).toBe('allow');
    expect(codes(inGrace)).toContain('lifecycle_sponsors_below_minimum');
    expect(inGrace.reasons.find((r) => r.code === 'lifecycle_sponsors_below_minimum')?.message).toContain(
      new Date(lostAt + 14 * DAY).toISOString().replace('.000Z', 'Z'),
    );

    await worker().tick();
    const notice = receiver.notices.find((n) => n.body.agent_id === 'agt-lc-1');
    expect(notice?.body).toMatchObject({
      policy: 'minimumSponsors',
      phase: 'upcoming',
      action: 'disable',
      recipients: ['u-manager'],
      recipient_role: 'manager',
    });
    expect(notice?.signature).toBe(
      `sha256=${createHmac('sha256', SECRET)
        .update(notice?.raw ?? '')
        .digest('hex')}`,
    );
    const noticeAt = notice?.at ?? Infinity;

    // The last second of grace still allows; the next denies before any worker runs.
    clock.ms = lostAt + 14 * DAY - 1000;
    expect((await decide('agt-lc-1')).decision).toBe('allow');
    clock.ms = lostAt + 14 * DAY;
    const after = await decide('agt-lc-1');
    expect(after.decision).toBe('deny');
    expect(codes(after)).toEqual(['lifecycle_disabled']);
    expect((await admin().get(`${T}/agents/agt-lc-1`).expect(200)).body.enabled).toBe(true);

    const report = await worker().tick();
    expect(report.disabled).toBeGreaterThanOrEqual(1);
    expect((await admin().get(`${T}/agents/agt-lc-1`).expect(200)).body.enabled).toBe(false);
    const disable = (await trail('agt-lc-1')).find((e) => e.action === 'disable');
    expect(disable).toMatchObject({
      actor: 'system:lifecycle',
      before: { enabled: true },
      after: { enabled: false },
    });
    expect(noticeAt).toBeLessThan(lostAt + 14 * DAY);
    // One upcoming notice, however many ticks ran.
    expect(
      receiver.notices.filter((n) => n.body.agent_id === 'agt-lc-1' && n.body.phase === 'upcoming'),
    ).toHaveLength(1);
  });

  it('still denies an agent created without a sponsor at once', async () => {
    await admin()
      .put(`${T}/agents/agt-lc-none`, { ...AGENT, sponsors: [] })
      .expect(200);
    expect(codes(await decide('agt-lc-none'))).toEqual(['agent_no_sponsor']);
  });

  it('disables an agent granted no token for the inactivity period, after its grace', async () => {
    clock.ms = Date.parse('2027-01-01T00:00:00Z');
    await admin()
      .put(`${T}/lifecycle-policies`, {
        policies: [
          { kind: 'inactivity', inactive_days: 30, grace_days: 7, action: 'disable' },
          { kind: 'minimumSponsors', minimum: 1, grace_days: 14, action: 'disable' },
        ],
      })
      .expect(200);
    await admin().put(`${T}/agents/agt-lc-idle`, AGENT).expect(200);
    expect((await decide('agt-lc-idle')).decision).toBe('allow');
    await t.services.lifecycle.activity.flush();
    const lastToken = Math.floor(clock.ms / 60_000) * 60_000;

    clock.ms = lastToken + 30 * DAY + 1000;
    // No decision in grace here: an allowed one would be a new grant and end the inactivity.
    await worker().tick();
    expect(
      receiver.notices.some((n) => n.body.agent_id === 'agt-lc-idle' && n.body.policy === 'inactivity'),
    ).toBe(true);
    expect(receiver.notices.find((n) => n.body.agent_id === 'agt-lc-idle')?.body.recipients).toEqual([
      'u-sponsor',
    ]);
    clock.ms = lastToken + 37 * DAY;
    const denied = await decide('agt-lc-idle');
    expect(codes(denied)).toEqual(['lifecycle_disabled']);
    await worker().tick();
    expect((await admin().get(`${T}/agents/agt-lc-idle`).expect(200)).body.enabled).toBe(false);
  });

  it('warns during grace and is reset by a new grant (inactivity counts from the last token)', async () => {
    clock.ms = Date.parse('2027-03-01T00:00:00Z');
    await admin().put(`${T}/agents/agt-lc-warm`, AGENT).expect(200);
    clock.advance(31 * DAY);
    const warned = await decide('agt-lc-warm');
    expect(warned.decision).toBe('allow');
    expect(codes(warned)).toContain('lifecycle_inactive');
    await t.services.lifecycle.activity.flush();
    clock.advance(60_000);
    expect(codes(await decide('agt-lc-warm'))).not.toContain('lifecycle_inactive');
  });

  it('requires reconfirmation by a sponsor every interval; a non-sponsor cannot confirm', async () => {
    clock.ms = Date.parse('2027-06-01T00:00:00Z');
    await admin()
      .put(`${T}/lifecycle-policies`, {
        policies: [
          { kind: 'sponsorReconfirmation', interval_days: 30, grace_days: 5, action: 'disableThenDelete' },
        ],
      })
      .expect(200);
    await admin().put(`${T}/agents/agt-lc-conf`, AGENT).expect(200);
    clock.advance(30 * DAY);
    expect(codes(await decide('agt-lc-conf'))).toContain('lifecycle_reconfirmation_due');
    await worker().tick();
    expect(
      receiver.notices.some((n) => n.body.agent_id === 'agt-lc-conf' && n.body.phase === 'upcoming'),
    ).toBe(true);

    await request(t.api)
      .post(`${T}/agents/agt-lc-conf/sponsors/confirm`)
      .set('x-api-key', keyOf('u-other'))
      .expect(403);
    await request(t.api)
      .post(`${T}/agents/agt-lc-conf/sponsors/confirm`)
      .set('x-api-key', keyOf('u-sponsor'))
      .expect(200);
    expect(codes(await decide('agt-lc-conf'))).not.toContain('lifecycle_reconfirmation_due');
    expect((await trail('agt-lc-conf')).map((e) => [e.action, e.actor])).toContainEqual([
      'confirmSponsors',
      'u-sponsor',
    ]);

    // Not reconfirmed again: disabled after the grace, deleted one grace period later.
    clock.advance(35 * DAY);
    expect(codes(await decide('agt-lc-conf'))).toEqual(['lifecycle_disabled']);
    await worker().tick();
    expect((await admin().get(`${T}/agents/agt-lc-conf`).expect(200)).body.enabled).toBe(false);
    clock.advance(5 * DAY);
    await worker().tick();
    await admin().get(`${T}/agents/agt-lc-conf`).expect(404);
    expect((await trail('agt-lc-conf')).map((e) => e.action).slice(0, 2)).toEqual(['delete', 'disable']);
  });

  it('retries an undelivered notice on the next tick and never sends one twice', async () => {
    clock.ms = Date.parse('2027-09-01T00:00:00Z');
    await admin()
      .put(`${T}/lifecycle-policies`, {
        policies: [{ kind: 'minimumSponsors', minimum: 2, grace_days: 3, action: 'delete' }],
      })
      .expect(200);
    await admin()
      .put(`${T}/agents/agt-lc-retry`, { ...AGENT, sponsors: ['a', 'b'] })
      .expect(200);
    clock.advance(1000);
    await admin()
      .put(`${T}/agents/agt-lc-retry`, { ...AGENT, sponsors: ['a'] })
      .expect(200);
    receiver.fail = true;
    expect((await worker().tick()).failedNotices).toBeGreaterThanOrEqual(1);
    receiver.fail = false;
    await worker().tick();
    await worker().tick();
    expect(receiver.notices.filter((n) => n.body.agent_id === 'agt-lc-retry')).toHaveLength(1);
  });

  it('refuses invalid policy documents with 400 and the pointer', async () => {
    for (const [body, pointer] of [
      [
        { policies: [{ kind: 'inactivity', inactive_days: 0, grace_days: 1, action: 'disable' }] },
        '/policies/0',
      ],
      [
        {
          policies: [{ kind: 'sponsorReconfirmation', interval_days: 29, grace_days: 1, action: 'disable' }],
        },
        '/policies/0',
      ],
      [
        { policies: [{ kind: 'minimumSponsors', minimum: 1, grace_days: 1, action: 'archive' }] },
        '/policies/0',
      ],
      [
        {
          policies: [
            { kind: 'inactivity', inactive_days: 5, grace_days: 1, action: 'disable' },
            { kind: 'inactivity', inactive_days: 9, grace_days: 1, action: 'disable' },
          ],
        },
        '/policies/1/kind',
      ],
      [{ policies: {} }, '/policies'],
      [{ __proto__: { policies: [] } }, ''],
    ] as const) {
      const res = await admin().put(`${T}/lifecycle-policies`, body).expect(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(JSON.stringify(res.body.error.details)).toContain(`"pointer":"${pointer}`);
    }
    await request(t.api)
      .post('/v1/tenants/default/agents/__proto__/sponsors/confirm')
      .set('x-api-key', keyOf('admin'))
      .expect(400);
    await request(t.api)
      .post('/v1/tenants/default/agents/agt-nobody/sponsors/confirm')
      .set('x-api-key', keyOf('admin'))
      .expect(404);
  });
});
