import type { Logger } from 'pino';
import type { Decision } from '../decision/run';
import { describeThrown } from '../errors';
import { writeRisk } from '../routes/entra-directory';
import { parseRfc3339 } from '../schemas/rfc3339';
import type { AgentRiskRecord, DetectionSettings, SignalStore } from '../store/types';
import { RISK_LEVELS, type RiskLevel } from '../vocabulary';
import type { AgentEvents, DetectionState } from './detection-state';

/**
 * ID Protection's offline detections for agents, from the PDP's own decisions: the observer only
 * queues a compact event (bounded; dropped and counted when full); every flush sends the queue to
 * the shared counts (DetectionState) and raises the risk of agents that trip a detection, with a
 * `detections` entry and a governance trail entry (actor system:detections). Risk-based
 * Conditional Access then acts on it; confirmSafe and dismiss clear it, and only decisions after
 * the clearing count again.
 */

export const DETECTIONS_ACTOR = 'system:detections';
export const DETECTION_SETTINGS_ID = 'settings';

export const DEFAULT_DETECTION_SETTINGS: DetectionSettings = Object.freeze({
  failedAccessAttempt: { enabled: true, threshold: 20, window_seconds: 300, level: 'high' },
  unfamiliarResourceAccess: { enabled: true, learning_days: 7, history_days: 30, level: 'medium' },
  signInSpike: {
    enabled: true,
    factor: 10,
    min_count: 100,
    window_seconds: 300,
    baseline_windows: 12,
    level: 'medium',
  },
  riskyUserSignIn: { enabled: true },
}) as DetectionSettings;

export type DetectionType =
  'failedAccessAttempt' | 'unfamiliarResourceAccess' | 'signInSpike' | 'riskyUserSignIn';

export interface Detection {
  type: DetectionType;
  detected_at: string;
  level: RiskLevel;
  evidence: Record<string, unknown>;
}

interface Event {
  tenant: string;
  agent: string;
  allow: boolean;
  resource: string | null;
  obo: boolean;
  userRisk: string;
  /** Epoch seconds. */
  at: number;
}

const CLEARED = new Set(['confirmedSafe', 'dismissed', 'remediated']);
const MAX_DETECTIONS = 50;

function rank(level: unknown): number {
  const i = RISK_LEVELS.indexOf(level as RiskLevel);
  return i < 0 ? 0 : i;
}

function epochOf(value: unknown): number | null {
  const ms = typeof value === 'string' ? parseRfc3339(value) : null;
  return ms === null ? null : Math.floor(ms / 1000);
}

/** Stored settings over the defaults, member by member (a stored value is not trusted). */
export function settingsOf(stored: unknown): DetectionSettings {
  const out = structuredClone(DEFAULT_DETECTION_SETTINGS);
  if (typeof stored !== 'object' || stored === null) return out;
  for (const name of Object.keys(out) as (keyof DetectionSettings)[]) {
    if (name === 'updated_at' || !Object.hasOwn(stored, name)) continue;
    const value = (stored as Record<string, unknown>)[name];
    if (typeof value !== 'object' || value === null) continue;
    const target = out[name] as Record<string, unknown>;
    for (const k of Object.keys(target)) {
      if (!Object.hasOwn(value, k)) continue;
      const v = (value as Record<string, unknown>)[k];
      if (typeof v === typeof target[k]) target[k] = v;
    }
  }
  return out;
}

export interface DetectorDeps {
  store: SignalStore;
  state: DetectionState;
  clock: () => number;
  logger: Logger;
  onDropped?: (n: number) => void;
}

export class Detector {
  private queue: Event[] = [];
  dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<Detection[]> | null = null;

  constructor(
    private readonly deps: DetectorDeps,
    private readonly maxQueue = 50_000,
  ) {}

  /** A decision observer: token decisions of known agents become events. Never throws, never waits. */
  readonly note = (d: Decision): void => {
    if (d.kind !== 'token' || d.endpoint === 'whatif' || d.degraded) return;
    const input = d.input as {
      request?: { agent_id?: unknown; resource?: unknown; flow?: unknown };
      directory?: { agent?: unknown };
    };
    const agent = input.request?.agent_id;
    // Unknown agents have no risk to raise: counting them would let anyone fill the counters.
    if (typeof agent !== 'string' || input.directory?.agent === null || input.directory?.agent === undefined)
      return;
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      this.deps.onDropped?.(1);
      return;
    }
    const resource = input.request?.resource;
    this.queue.push({
      tenant: d.tenant,
      agent,
      allow: d.decision === 'allow',
      resource: typeof resource === 'string' ? resource : null,
      obo: input.request?.flow === 'on_behalf_of',
      userRisk: d.signals.user_risk,
      at: Math.floor(d.at / 1000),
    });
  };

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.flush().catch((err: unknown) => {
        this.deps.logger.warn({ err: describeThrown(err) }, 'detections flush failed');
      });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch(() => undefined);
  }

  /** Sends the queue to the counts and raises what trips; one flush at a time. */
  flush(): Promise<Detection[]> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<Detection[]> {
    const events = this.queue;
    this.queue = [];
    const byAgent = new Map<string, Event[]>();
    for (const e of events) {
      const id = `${e.tenant}\n${e.agent}`;
      const list = byAgent.get(id);
      if (list === undefined) byAgent.set(id, [e]);
      else list.push(e);
    }
    const settings = new Map<string, DetectionSettings>();
    const raised: Detection[] = [];
    for (const list of byAgent.values()) {
      const first = list[0];
      if (first === undefined) continue;
      let s = settings.get(first.tenant);
      if (s === undefined) {
        s = settingsOf(await this.deps.store.get('detection-settings', first.tenant, DETECTION_SETTINGS_ID));
        settings.set(first.tenant, s);
      }
      try {
        raised.push(...(await this.agent(first.tenant, first.agent, list, s)));
      } catch (err) {
        this.deps.logger.warn(
          { err: describeThrown(err), tenant: first.tenant, agent: first.agent },
          'detections skipped an agent',
        );
      }
    }
    return raised;
  }

  private async agent(
    tenant: string,
    agent: string,
    events: Event[],
    s: DetectionSettings,
  ): Promise<Detection[]> {
    const now = Math.floor(this.deps.clock() / 1000);
    const minute = (t: number) => Math.floor(t / 60) * 60;
    const batch: AgentEvents = {
      tenant,
      agent,
      denies: new Map(),
      grants: new Map(),
      resources: new Map(),
      first: Math.min(...events.map((e) => e.at)),
    };
    for (const e of events) {
      const counts = e.allow ? batch.grants : batch.denies;
      counts.set(minute(e.at), (counts.get(minute(e.at)) ?? 0) + 1);
      if (e.resource !== null)
        batch.resources.set(e.resource, Math.max(e.at, batch.resources.get(e.resource) ?? 0));
    }
    const minutes = (from: number, to: number): number[] => {
      const out: number[] = [];
      for (let m = minute(from); m <= minute(to); m += 60) out.push(m);
      return out;
    };
    const spike = s.signInSpike;
    const baselineSeconds = spike.window_seconds * spike.baseline_windows;
    const counts = await this.deps.state.apply(batch, {
      denyMinutes: minutes(now - s.failedAccessAttempt.window_seconds + 1, now),
      grantMinutes: minutes(now - spike.window_seconds - baselineSeconds + 1, now),
      historyFrom: now - s.unfamiliarResourceAccess.history_days * 86_400,
      ttlSeconds:
        Math.max(
          s.unfamiliarResourceAccess.history_days * 86_400,
          baselineSeconds + spike.window_seconds,
          s.failedAccessAttempt.window_seconds,
        ) + 60,
    });

    const risk = await this.deps.store.get('risk:agent', tenant, agent);
    // After a clearing only minutes that began after it count (the clearing's own minute does not).
    const clearedAt =
      risk !== null && CLEARED.has(String(risk.state)) ? (epochOf(risk.updated_at) ?? now) : null;
    const counts0 = (m: number) => (clearedAt === null || m > clearedAt ? 1 : 0);
    const recent = new Map<string, number>();
    for (const d of Array.isArray(risk?.detections) ? risk.detections : []) {
      const type =
        typeof d === 'object' && d !== null && Object.hasOwn(d, 'type')
          ? (d as { type: unknown }).type
          : null;
      const at =
        typeof d === 'object' && d !== null && Object.hasOwn(d, 'detected_at')
          ? epochOf((d as { detected_at: unknown }).detected_at)
          : null;
      if (typeof type === 'string' && at !== null) recent.set(type, Math.max(at, recent.get(type) ?? 0));
    }
    const stamp = new Date(now * 1000).toISOString();
    const found: Detection[] = [];
    const fresh = (type: DetectionType, window: number) => {
      const last = recent.get(type);
      return last === undefined || last <= now - window || (clearedAt !== null && last <= clearedAt);
    };

    const f = s.failedAccessAttempt;
    if (f.enabled && fresh('failedAccessAttempt', f.window_seconds)) {
      let denies = 0;
      for (const [m, n] of counts.denies) denies += n * counts0(m);
      if (denies >= f.threshold)
        found.push({
          type: 'failedAccessAttempt',
          detected_at: stamp,
          level: f.level,
          evidence: { denies, window_seconds: f.window_seconds },
        });
    }
    const u = s.unfamiliarResourceAccess;
    const learnedAt = counts.firstSeen + u.learning_days * 86_400;
    if (
      u.enabled &&
      now >= learnedAt &&
      counts.unfamiliar.length > 0 &&
      fresh('unfamiliarResourceAccess', 3600)
    )
      found.push({
        type: 'unfamiliarResourceAccess',
        detected_at: stamp,
        level: u.level,
        evidence: { resources: counts.unfamiliar.slice(0, 10) },
      });
    if (
      spike.enabled &&
      now >= counts.firstSeen + baselineSeconds &&
      fresh('signInSpike', spike.window_seconds)
    ) {
      let current = 0;
      let before = 0;
      for (const [m, n] of counts.grants) {
        if (counts0(m) === 0) continue;
        if (m > now - spike.window_seconds) current += n;
        else before += n;
      }
      const baseline = before / spike.baseline_windows;
      if (current >= spike.min_count && current > spike.factor * Math.max(baseline, 1))
        found.push({
          type: 'signInSpike',
          detected_at: stamp,
          level: spike.level,
          evidence: { grants: current, baseline, window_seconds: spike.window_seconds },
        });
    }
    if (s.riskyUserSignIn.enabled && fresh('riskyUserSignIn', 3600)) {
      const worst = events
        .filter((e) => e.obo && (e.userRisk === 'medium' || e.userRisk === 'high'))
        .sort((a, b) => rank(b.userRisk) - rank(a.userRisk))[0];
      if (worst !== undefined)
        found.push({
          type: 'riskyUserSignIn',
          detected_at: stamp,
          level: worst.userRisk as RiskLevel,
          evidence: { user_risk: worst.userRisk },
        });
    }
    if (found.length > 0) await this.raise(tenant, agent, risk, clearedAt !== null, found, now);
    return found;
  }

  private async raise(
    tenant: string,
    agent: string,
    prior: AgentRiskRecord | null,
    cleared: boolean,
    found: Detection[],
    now: number,
  ): Promise<void> {
    // A cleared risk counts as none: the new level is the detections', never below an open one.
    const open = prior === null || cleared ? 0 : rank(prior.level);
    const level = RISK_LEVELS[Math.max(open, ...found.map((d) => rank(d.level)))] ?? 'high';
    const previous = Array.isArray(prior?.detections) ? prior.detections : [];
    const record: AgentRiskRecord = {
      level,
      state: prior?.state === 'confirmedCompromised' && !cleared ? 'confirmedCompromised' : 'atRisk',
      risk_detail: 'none',
      detections: [
        ...previous,
        ...found.map(({ type, detected_at, evidence }) => ({ type, detected_at, evidence })),
      ].slice(-MAX_DETECTIONS),
      updated_at: new Date(now * 1000).toISOString(),
    };
    await writeRisk(this.deps.store, tenant, 'risk:agent', agent, record, {
      actor: DETECTIONS_ACTOR,
      at: now * 1000,
      action: 'detect',
      before: prior,
      reason: found.map((d) => d.type).join(', '),
    });
  }
}
