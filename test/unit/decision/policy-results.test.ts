import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { POLICY_OUTCOMES, policyResults, tenantPolicies } from '../../../src/decision/service';
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
  it('mean what policies/agent/ca.rego `outcomes` says, in the same order', () => {
    const out = execFileSync(path.join(ROOT, '.tools/bin/opa'), [
      'eval',
      '--format=json',
      '-d',
      path.join(ROOT, 'policies/agent'),
      '-d',
      path.join(ROOT, 'policies/custom'),
      'data.agent.ca.outcomes',
    ]).toString();
    const rego = (JSON.parse(out) as { result: { expressions: { value: unknown }[] }[] }).result[0]!
      .expressions[0]!.value;
    expect(POLICY_OUTCOMES).toEqual(rego);
  });

  it('decode one code per tenant policy into the documented report, static fields from the data', () => {
    expect(policyResults(policies, [20, 13, 0])).toEqual([
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
    const [first] = policyResults(policies, [19, 1, 0]);
    expect(Object.keys(first!)).toEqual(['id', 'name', 'state', 'result', 'reason', 'controls']);
    first!.controls.push('mfa');
    expect(policies[0]!.controls).toEqual(['block']);
  });

  it('decode what-if entries: the selected policies only, with their conditions as reported', () => {
    const conditions = [{ matched: true, name: 'agentIdentities' }];
    const [only] = policyResults(policies, [{ index: 1, outcome: 21, conditions }]);
    expect(only).toEqual({
      id: 'ca-b',
      name: 'B',
      state: 'enabledForReportingButNotEnforced',
      result: 'reportOnlySuccess',
      reason: 'notSet',
      controls: [],
      conditions,
    });
    expect(Object.keys(only!)).toEqual(['id', 'name', 'state', 'result', 'reason', 'controls', 'conditions']);
  });

  it('report nothing when nothing was evaluated', () => {
    expect(policyResults(policies, [])).toEqual([]);
    expect(policyResults(policies, undefined)).toEqual([]);
  });

  it.each([
    ['a code per policy, but not for every policy', [20, 13]],
    ['an unknown code', [20, 13, 23]],
    ['a code that is no number', [20, '13', 0]],
    ['a what-if entry for no policy', [{ index: 3, outcome: 0, conditions: [] }]],
    ['no list at all', { 0: 20 }],
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
