import type { DecideRequest } from '../schemas/requests';
import type { AgentRecord, SignalSnapshot } from '../store/types';

/** The policy input (policies/README.md). WASM has no time builtins: `now` travels in the input. */
export interface PolicyInput {
  now: { epoch_seconds: number; rfc3339: string };
  request: DecideRequest & { tenant: string };
  directory: {
    agent: (AgentRecord & { expires_at_epoch: number | null }) | null;
    blueprint: SignalSnapshot['blueprint'];
  };
  signals: {
    agent_risk: SignalSnapshot['agentRisk'];
    user_risk: SignalSnapshot['userRisk'];
    revocation: SignalSnapshot['revocation'];
    degraded: boolean;
    unavailable: boolean;
  };
  policy_ids?: string[];
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 date-time as epoch seconds. A leap second (`23:59:60`) is the second after `23:59:59`:
 * POSIX time has no second of its own for it, and Date.parse would give NaN. Anything that is not
 * an RFC 3339 string (a record written around the API: a number, an array, "next Tuesday",
 * February 30th) counts as already expired: fail closed.
 */
export function epochOf(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const m = typeof value === 'string' ? RFC3339.exec(value) : null;
  if (m === null) return 0;
  const [year, month, day, hour, minute, second, offHour, offMinute] = [
    m[1],
    m[2],
    m[3],
    m[4],
    m[5],
    m[6],
    m[10],
    m[11],
  ].map(Number) as [number, number, number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // not Date.UTC: it reads years 0-99 as 1900-1999
  const valid =
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 60 &&
    (m[9] === undefined || (offHour <= 23 && offMinute <= 59));
  if (!valid) return 0;
  const offset = m[9] === undefined ? 0 : (m[9] === '-' ? -1 : 1) * (offHour * 60 + offMinute) * 60;
  return Math.floor(date.getTime() / 1000) + hour * 3600 + minute * 60 + second - offset;
}

export function buildInput(request: DecideRequest, signals: SignalSnapshot, nowMs: number): PolicyInput {
  const agent = signals.agent;
  return {
    now: { epoch_seconds: Math.floor(nowMs / 1000), rfc3339: new Date(nowMs).toISOString() },
    request: { ...request, tenant: request.tenant ?? 'default' },
    directory: {
      agent: agent === null ? null : { ...agent, expires_at_epoch: epochOf(agent.expires_at) },
      blueprint: signals.blueprint,
    },
    signals: {
      agent_risk: signals.agentRisk,
      user_risk: signals.userRisk,
      revocation: signals.revocation,
      degraded: signals.degraded,
      unavailable: signals.unavailable,
    },
  };
}
