import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Decision } from '../decision/run';
import { describeThrown } from '../errors';
import type { RedisLease } from '../graph/lease';
import { AGENTS_INDEX } from '../store/keys';
import { LIFECYCLE_ID } from '../store/snapshot';
import type { SignalStore } from '../store/types';
import { lifecycleFindings, lifecyclePolicies, sponsorsOf, type LifecycleFinding } from './lifecycle';

/** The trail's actor for what the worker does. */
export const LIFECYCLE_ACTOR = 'system:lifecycle';
/** Notices already sent, per tenant (a store index set: every replica and restart sees them). */
export const NOTICES_INDEX = 'lifecycle-notices';
const DAY = 86_400;

/**
 * When each agent was last granted a token, to the minute, written in batches off the response
 * path (the inactivity policy reads it in every decision). A failed write is kept for the next.
 */
export class ActivityRecorder {
  private readonly pending = new Map<string, { tenant: string; agent: string; minute: number }>();
  private readonly written = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: SignalStore,
    private readonly maxPending = 100_000,
  ) {}

  /** A decision observer: notes token grants (decide and batches). Never throws, never waits. */
  readonly note = (d: Decision): void => {
    if (d.kind !== 'token' || d.decision !== 'allow') return;
    if (d.endpoint !== 'decide' && d.endpoint !== 'decide_batch') return;
    const agent = (d.input as { request?: { agent_id?: unknown } }).request?.agent_id;
    if (typeof agent !== 'string') return;
    const minute = Math.floor(d.at / 60_000) * 60;
    const key = `${d.tenant}\n${agent}`;
    if (this.written.get(key) === minute || this.pending.get(key)?.minute === minute) return;
    if (this.pending.size >= this.maxPending && !this.pending.has(key)) return;
    this.pending.set(key, { tenant: d.tenant, agent, minute });
  };

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Writes what is pending; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const batch = [...this.pending.entries()];
    this.pending.clear();
    for (const [key, e] of batch) {
      try {
        await this.store.write(e.tenant, [
          {
            kind: 'activity:agent',
            id: e.agent,
            value: { last_token_at: new Date(e.minute * 1000).toISOString(), last_token_epoch: e.minute },
          },
        ]);
        this.written.set(key, e.minute);
        if (this.written.size > this.maxPending)
          this.written.delete(this.written.keys().next().value as string);
      } catch {
        if (!this.pending.has(key)) this.pending.set(key, e);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}

/** One notice of an upcoming (or applied) lifecycle action, as the webhook receives it. */
export interface LifecycleNotice {
  type: 'agent.lifecycle.notice';
  tenant: string;
  agent_id: string;
  display_name: string | null;
  policy: LifecycleFinding['kind'];
  /** upcoming: the grace period began; final: the action is a day away or less; applied: it applied before a notice could be sent. */
  phase: 'upcoming' | 'final' | 'applied';
  action: LifecycleFinding['action'];
  action_at: string;
  /** The agent's sponsors, or its manager when it has none. */
  recipients: string[];
  recipient_role: 'sponsor' | 'manager' | 'none';
}

export interface WebhookOptions {
  url: string;
  secret: string | null;
  timeoutMs: number;
}

/** POSTs a notice; resolves true on a 2xx. Never throws. */
export async function sendNotice(opts: WebhookOptions, notice: LifecycleNotice): Promise<boolean> {
  const body = JSON.stringify(notice);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.secret !== null)
    headers['x-pdp-signature'] = `sha256=${createHmac('sha256', opts.secret).update(body).digest('hex')}`;
  try {
    const res = await fetch(opts.url, {
      method: 'POST',
      headers,
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.ok;
  } catch {
    return false;
  }
}

export interface LifecycleWorkerDeps {
  store: SignalStore;
  clock: () => number;
  logger: Logger;
  /** The tenants to look after (those the engine serves, and `default`). */
  tenants: () => string[];
  webhook: WebhookOptions | null;
  /** With Redis: only the holder works (one replica). */
  lease: RedisLease | null;
}

export interface TickReport {
  notices: number;
  failedNotices: number;
  disabled: number;
  deleted: number;
}

/**
 * Sends notices of upcoming lifecycle actions and applies them to the directory once due. Each
 * notice is sent once per (agent, policy, start of the failing, phase); a notice that could not be
 * delivered is retried next tick. An action applies whether or not its notice got through.
 */
export class LifecycleWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<TickReport> | null = null;

  constructor(private readonly deps: LifecycleWorkerDeps) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.tick().catch((err: unknown) => {
        this.deps.logger.warn({ err: describeThrown(err) }, 'lifecycle tick failed');
      });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await this.deps.lease?.release().catch(() => undefined);
  }

  /** One pass over every tenant's agents; ticks do not overlap. */
  tick(): Promise<TickReport> {
    this.running ??= this.tickOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async tickOnce(): Promise<TickReport> {
    const report: TickReport = { notices: 0, failedNotices: 0, disabled: 0, deleted: 0 };
    if (this.deps.lease !== null && !(await this.deps.lease.acquire())) return report;
    for (const tenant of new Set(this.deps.tenants())) await this.tenant(tenant, report);
    return report;
  }

  private async tenant(tenant: string, report: TickReport): Promise<void> {
    const { store } = this.deps;
    const policies = lifecyclePolicies(await store.get('lifecycle', tenant, LIFECYCLE_ID));
    if (policies.length === 0) return;
    const sent = new Set(await store.members(tenant, NOTICES_INDEX));
    for (const id of (await store.members(tenant, AGENTS_INDEX)).sort()) {
      if (this.deps.lease !== null && !this.deps.lease.held) return;
      // A record that cannot be read (written around the API) is skipped: decisions deny it anyway.
      const read = await Promise.all([
        store.get('agent', tenant, id),
        store.get('activity:agent', tenant, id),
      ]).catch(() => null);
      if (read === null || read[0] === null) continue;
      const [agent, activity] = read;
      const now = Math.floor(this.deps.clock() / 1000);
      for (const f of lifecycleFindings(agent, policies, activity, now)) {
        const upcoming = `${id}|${f.kind}|${f.due_epoch}|upcoming`;
        if (!sent.has(upcoming))
          await this.notify(
            tenant,
            agent,
            f,
            f.phase === 'grace' ? 'upcoming' : 'applied',
            upcoming,
            sent,
            report,
          );
        const final = `${id}|${f.kind}|${f.due_epoch}|final`;
        if (f.phase === 'grace' && now >= f.action_epoch - DAY && !sent.has(final))
          await this.notify(tenant, agent, f, 'final', final, sent, report);
        if (f.phase !== 'grace') await this.apply(tenant, id, f, now, report);
      }
    }
  }

  private async notify(
    tenant: string,
    agent: { id: string; display_name?: string; attributes?: Record<string, unknown> },
    f: LifecycleFinding,
    phase: LifecycleNotice['phase'],
    key: string,
    sent: Set<string>,
    report: TickReport,
  ): Promise<void> {
    if (this.deps.webhook === null) return;
    const sponsors = sponsorsOf(agent);
    const attributes = agent.attributes;
    const manager =
      attributes !== undefined &&
      Object.hasOwn(attributes, 'manager') &&
      typeof attributes['manager'] === 'string'
        ? attributes['manager']
        : null;
    const notice: LifecycleNotice = {
      type: 'agent.lifecycle.notice',
      tenant,
      agent_id: agent.id,
      display_name: typeof agent.display_name === 'string' ? agent.display_name : null,
      policy: f.kind,
      phase,
      action: f.action,
      action_at: f.action_at,
      recipients: sponsors.length > 0 ? sponsors : manager !== null ? [manager] : [],
      recipient_role: sponsors.length > 0 ? 'sponsor' : manager !== null ? 'manager' : 'none',
    };
    if (await sendNotice(this.deps.webhook, notice)) {
      await this.deps.store.index(tenant, NOTICES_INDEX, key, true);
      sent.add(key);
      report.notices++;
    } else {
      report.failedNotices++;
      this.deps.logger.warn(
        { tenant, agent: agent.id, policy: f.kind, phase },
        'lifecycle notice not delivered; retried next tick',
      );
    }
  }

  /** Disables or deletes the agent as the finding's action says, if not done already. */
  private async apply(
    tenant: string,
    id: string,
    f: LifecycleFinding,
    now: number,
    report: TickReport,
  ): Promise<void> {
    const { store } = this.deps;
    const remove =
      f.action === 'delete' ||
      (f.action === 'disableThenDelete' && now >= (f.delete_epoch ?? f.action_epoch));
    const agent = await store.get('agent', tenant, id);
    if (agent === null) return;
    const at = this.deps.clock();
    const reason = `lifecycle policy ${f.kind}: grace period ended at ${f.action_at}`;
    if (remove) {
      await store.write(
        tenant,
        [
          { kind: 'agent', id, value: null },
          { kind: 'grants:agent', id, value: null },
        ],
        {
          actor: LIFECYCLE_ACTOR,
          at,
          changes: [
            {
              target: { type: 'agent', id },
              action: 'delete',
              agents: [id],
              before: agent,
              after: null,
              reason,
            },
          ],
        },
      );
      report.deleted++;
    } else if (agent.enabled) {
      const after = { ...agent, enabled: false, updated_at: new Date(at).toISOString() };
      await store.write(tenant, [{ kind: 'agent', id, value: after }], {
        actor: LIFECYCLE_ACTOR,
        at,
        changes: [
          { target: { type: 'agent', id }, action: 'disable', agents: [id], before: agent, after, reason },
        ],
      });
      report.disabled++;
    }
  }
}
