/**
 * The Conditional Access outcome table: what each outcome code the policy reports stands for, and
 * the conditions in What-If order. One data file, policies/agent/ca_outcomes/data.json, is read
 * here and by the Rego (data.ca_outcomes in the bundle, policies/agent/ca.rego).
 */
import { PdpError } from '../errors';
import table from '../../policies/agent/ca_outcomes/data.json';

/**
 * The What-If order of the conditions (Graph's analysisReasons), then the PDP's own reasons; a
 * condition's rank is its place here, from 1.
 */
export const CONDITION_NAMES: readonly string[] = table.conditions;

/** A condition's rank; a name the table does not hold is a programming error. */
export function rank(name: string): number {
  const i = CONDITION_NAMES.indexOf(name);
  if (i < 0) throw new Error(`ca_outcomes/data.json names no condition ${name}`);
  return i + 1;
}

export type Outcome = readonly [result: string, reason: string];

/** Code → [result, reason], from the table; a gap, a repeated code or another order of conditions throws. */
function outcomesOf(t: typeof table): readonly Outcome[] {
  const byCode = new Map<number, Outcome>();
  const add = (code: number, outcome: Outcome): void => {
    if (byCode.has(code)) throw new Error(`ca_outcomes/data.json: code ${code} is given twice`);
    byCode.set(code, outcome);
  };
  add(t.disabled.code, [t.disabled.result, t.disabled.reason]);
  for (const n of Object.values(t.not_applied)) {
    n.codes.forEach((code, rank) => {
      if (code !== null) add(code, [n.result, t.conditions[rank - 1] ?? '']);
    });
  }
  for (const a of Object.values(t.applied)) {
    for (const s of [a.satisfied, a.unsatisfied]) add(s.code, [s.result, t.applied_reason]);
  }
  const out = [...byCode.keys()].sort((a, b) => a - b).map((code) => byCode.get(code) as Outcome);
  if (out.length !== byCode.size || ![...byCode.keys()].every((code) => code >= 0 && code < out.length)) {
    throw new Error('ca_outcomes/data.json: codes are not 0…n-1');
  }
  return out;
}

/**
 * The table as the Rego reads it (data.ca_outcomes). The engine sets it in the WASM data from
 * here, so the policy and the service decode alike whatever a bundle's data.json holds.
 */
export const OUTCOME_TABLE: Readonly<typeof table> = table;

/** What each outcome code stands for, by code. */
export const POLICY_OUTCOMES: readonly Outcome[] = outcomesOf(table);

export interface WhatIfCondition {
  matched: boolean;
  name: string;
}

/** What-If's report of one selected policy. */
export interface WhatIfEntry {
  /** The policy's index in the tenant's policies. */
  index: unknown;
  outcome: unknown;
  conditions: WhatIfCondition[];
}

/**
 * One What-If entry as the policy reports it, `[policy index, outcome code, signed ranks]` (an
 * array: the output stays small); index and code are checked by the caller. Anything else fails
 * closed.
 */
export function whatIfEntry(reported: unknown): WhatIfEntry {
  if (!Array.isArray(reported) || reported.length !== 3) throw badEntry();
  const [index, outcome, conditions] = reported as [unknown, unknown, unknown];
  return { index, outcome, conditions: whatIfConditions(conditions) };
}

const badEntry = (): PdpError =>
  new PdpError('policy_evaluation_failed', 'the policy reported a What-If entry of another shape');

/**
 * A policy's What-If conditions as the policy reports them, one signed rank each (the rank when
 * the request matches the condition, its negation when not), named. Anything else fails closed.
 */
export function whatIfConditions(reported: unknown): WhatIfCondition[] {
  if (!Array.isArray(reported)) throw badConditions();
  return reported.map((r: unknown) => {
    const name = typeof r === 'number' ? CONDITION_NAMES[Math.abs(r) - 1] : undefined;
    if (name === undefined) throw badConditions();
    // The key order the response always had (the policy's JSON, keys sorted).
    return { matched: (r as number) > 0, name };
  });
}

const badConditions = (): PdpError =>
  new PdpError('policy_evaluation_failed', 'the policy reported What-If conditions that name no condition');
