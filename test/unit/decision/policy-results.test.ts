import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { policyResults, tenantPolicies } from '../../../src/decision/service';
import { CONDITION_NAMES, POLICY_OUTCOMES } from '../../../src/engine/ca-outcomes';
import type { ActiveRevision } from '../../../src/engine/policy-engine';
import { compileCaIndex } from '../../../src/engine/ca-index';
import type { CompiledPolicy } from '../../../src/engine/ca-model';
import { PdpError } from '../../../src/errors';
import { ROOT } from '../../helpers/app';

const compiled: CompiledPolicy['compiled'] = {
  flows: null,
  agents: { include: ['All'], exclude: [], filter: null },
  users: null,
  applications: null,
  agent_id_risk_levels: null,
  user_risk_levels: null,
  sign_in_risk_levels: null,
  locations: null,
  platforms: null,
  client_app_types: null,
  device_filter: null,
  grant: null,
  sign_in_frequency_seconds: null,
  unsupported: [],
};
const policies: CompiledPolicy[] = [
  {
    id: 'ca-a',
    displayName: 'Block A',
    state: 'enabled',
    controls: ['block'],
    compiled: { ...compiled, grant: { operator: 'OR', controls: ['block'], authentication_strength: null } },
  },
  { id: 'ca-b', displayName: 'B', state: 'enabledForReportingButNotEnforced', controls: [], compiled },
  { id: 'ca-c', displayName: 'C', state: 'disabled', controls: [], compiled },
];

function revision(tenants: Record<string, CompiledPolicy[]>): ActiveRevision {
  return {
    tenants: Object.fromEntries(
      Object.entries(tenants).map(([t, ps]) => [
        t,
        { policies: ps, named_locations: [], ca_index: compileCaIndex(ps) },
      ]),
    ),
  } as unknown as ActiveRevision;
}

describe('policy outcome codes', () => {
  it('are the documented table, read from the one data file', () => {
    expect(POLICY_OUTCOMES).toEqual([
      ['notEnabled', 'policyNotEnabled'],
      ...CONDITION_NAMES.map((c) => ['notApplied', c]),
      ...CONDITION_NAMES.map((c) => ['reportOnlyNotApplied', c]),
      ['success', 'notSet'],
      ['failure', 'notSet'],
      ['reportOnlySuccess', 'notSet'],
      ['reportOnlyFailure', 'notSet'],
    ]);
    expect(CONDITION_NAMES).toEqual([
      'agentIdentities',
      'users',
      'application',
      'agentIdRisk',
      'userRisk',
      'signInRisk',
      'location',
      'devicePlatform',
      'clientApps',
      'devices',
      'flows',
      'unsupportedCondition',
    ]);
  });

  it('mean what policies/agent/ca.rego looks up in the same file', () => {
    const out = execFileSync(path.join(ROOT, '.tools/bin/opa'), [
      'eval',
      '--format=json',
      '-d',
      path.join(ROOT, 'policies/agent'),
      '-d',
      path.join(ROOT, 'policies/custom'),
      '{"disabled": data.agent.ca.disabled_code, ' +
        '"not_applied": {m: n.codes | some m, n in data.agent.ca.not_applied}, ' +
        '"applied": {m: [a[data.agent.ca.satisfaction(true)].code, a[data.agent.ca.satisfaction(false)].code] | ' +
        'some m, a in data.agent.ca.applied}}',
    ]).toString();
    const rego = (JSON.parse(out) as { result: { expressions: { value: unknown }[] }[] }).result[0]!
      .expressions[0]!.value as {
      disabled: number;
      not_applied: Record<'enforced' | 'reportOnly', (number | null)[]>;
      applied: Record<'enforced' | 'reportOnly', [number, number]>;
    };
    expect(POLICY_OUTCOMES[rego.disabled]).toEqual(['notEnabled', 'policyNotEnabled']);
    CONDITION_NAMES.forEach((name, i) => {
      expect(POLICY_OUTCOMES[rego.not_applied.enforced[i + 1]!]).toEqual(['notApplied', name]);
      expect(POLICY_OUTCOMES[rego.not_applied.reportOnly[i + 1]!]).toEqual(['reportOnlyNotApplied', name]);
    });
    expect(rego.applied.enforced.map((c) => POLICY_OUTCOMES[c])).toEqual([
      ['success', 'notSet'],
      ['failure', 'notSet'],
    ]);
    expect(rego.applied.reportOnly.map((c) => POLICY_OUTCOMES[c])).toEqual([
      ['reportOnlySuccess', 'notSet'],
      ['reportOnlyFailure', 'notSet'],
    ]);
  });

  it('decode one code per tenant policy into the documented report, static fields from the data', () => {
    expect(policyResults(policies, [26, 23, 0])).toEqual([
      {
        id: 'ca-a',
        name: 'Block A',
        state: 'enabled',
        result: 'failure',
        reason: 'notSet',
        controls: ['block'],
      },
      {
        id: 'ca-b',
        name: 'B',
        state: 'enabledForReportingButNotEnforced',
        result: 'reportOnlyNotApplied',
        reason: 'flows',
        controls: [],
      },
      {
        id: 'ca-c',
        name: 'C',
        state: 'disabled',
        result: 'notEnabled',
        reason: 'policyNotEnabled',
        controls: [],
      },
    ]);
    // Documented field order (the HTTP response's), and no aliasing of the compiled data.
    const [first] = policyResults(policies, [25, 1, 0]);
    expect(Object.keys(first!)).toEqual(['id', 'name', 'state', 'result', 'reason', 'controls']);
    first!.controls.push('mfa');
    expect(policies[0]!.controls).toEqual(['block']);
  });

  it('decode what-if entries: the selected policies only, with their conditions named', () => {
    const [only] = policyResults(policies, [[1, 27, [1, -3, -11]]]);
    expect(only).toEqual({
      id: 'ca-b',
      name: 'B',
      state: 'enabledForReportingButNotEnforced',
      result: 'reportOnlySuccess',
      reason: 'notSet',
      controls: [],
      conditions: [
        { matched: true, name: 'agentIdentities' },
        { matched: false, name: 'application' },
        { matched: false, name: 'flows' },
      ],
    });
    expect(Object.keys(only!)).toEqual(['id', 'name', 'state', 'result', 'reason', 'controls', 'conditions']);
  });

  it('report nothing when nothing was evaluated', () => {
    expect(policyResults(policies, [])).toEqual([]);
    expect(policyResults(policies, undefined)).toEqual([]);
  });

  it.each([
    ['a code per policy, but not for every policy', [26, 23]],
    ['an unknown code', [26, 23, 29]],
    ['a code that is no number', [26, '23', 0]],
    ['a what-if entry for no policy', [[3, 0, []]]],
    ['a what-if entry of an unknown code', [[1, 29, []]]],
    ['a what-if entry that is no list', [{ index: 1, outcome: 0, conditions: [] }]],
    ['a what-if entry of two items', [[1, 0]]],
    ['a what-if condition of no rank', [[1, 0, [1, 13]]]],
    ['a what-if condition of rank 0', [[1, 0, [0]]]],
    ['a what-if condition that is no number', [[1, 0, ['users']]]],
    ['what-if conditions that are no list', [[1, 0, null]]],
    ['no list at all', { 0: 26 }],
  ])('fail closed on %s', (_, reported) => {
    expect(() => policyResults(policies, reported)).toThrow(PdpError);
  });

  it("take the policies of the revision that decided, of the tenant the policy read ('' is default)", () => {
    const r = revision({ default: policies, acme: [policies[2]!] });
    expect(tenantPolicies(r, 'acme').map((p) => p.id)).toEqual(['ca-c']);
    expect(tenantPolicies(r, '').map((p) => p.id)).toEqual(['ca-a', 'ca-b', 'ca-c']);
    expect(tenantPolicies(r, 'nope')).toEqual([]);
    expect(tenantPolicies(r, 'constructor')).toEqual([]);
  });
});
