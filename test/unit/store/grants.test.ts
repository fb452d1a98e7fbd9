import { grantsOf } from '../../../src/store/grants';
import { SHARED_GRANTS_ID, assemble, planQuery } from '../../../src/store/snapshot';

const own = {
  assignment_id: 'a1',
  package_id: 'p',
  permissions: { r: ['s'] },
  expires_at: 'x',
  expires_at_epoch: 9,
};
const toBlueprint = { ...own, assignment_id: 'a2', target: { blueprint_id: 'bp-1' } };
const toOther = { ...own, assignment_id: 'a3', target: { blueprint_id: 'bp-2' } };
const toAll = { ...own, assignment_id: 'a4', target: { all_agents: true } };
const agent = { id: 'agt', blueprint_id: 'bp-1' };

describe('grantsOf', () => {
  it("keeps the agent's own entitlements and the shared ones targeting its blueprint or all agents", () => {
    const shared = { entitlements: [toBlueprint, toOther, toAll] };
    expect(grantsOf({ entitlements: [own] }, shared, agent).map((e) => e.assignment_id)).toEqual([
      'a1',
      'a2',
      'a4',
    ]);
  });

  it('gives an unknown agent only all-agents entitlements, never a blueprint match', () => {
    const shared = { entitlements: [toBlueprint, toAll] };
    expect(grantsOf(null, shared, null).map((e) => e.assignment_id)).toEqual(['a4']);
    expect(grantsOf(null, shared, { blueprint_id: 5 }).map((e) => e.assignment_id)).toEqual(['a4']);
  });

  it.each([
    ['no record', null],
    ['a string', 'x'],
    ['an array', [own]],
    ['entitlements not a list', { entitlements: { 0: own } }],
    ['inherited entitlements', Object.create({ entitlements: [own] }) as object],
  ])('reads %s as no entitlements', (_, record) => {
    expect(grantsOf(record, record, agent)).toEqual([]);
  });

  it('drops non-object entries and shared entries with hostile targets', () => {
    const hostile = [
      null,
      'a1',
      { ...own, target: { all_agents: 'true' } },
      { ...own, target: { blueprint_id: ['bp-1'] } },
      { ...own, target: JSON.parse('{"__proto__": {"all_agents": true}}') as object },
      { ...own, target: Object.create({ all_agents: true }) as object },
    ];
    expect(grantsOf({ entitlements: [null, 7] }, { entitlements: hostile }, agent)).toEqual([]);
  });
});

describe('planQuery and assemble', () => {
  it("read the agent's grants and the tenant's shared grants with the decision's keys", () => {
    const plan = planQuery({ tenant: 't', agentId: 'agt' });
    expect(plan.kinds.slice(plan.grantsIndex, plan.grantsIndex + 2)).toEqual([
      'grants:agent',
      'grants:shared',
    ]);
    expect(plan.ids.slice(plan.grantsIndex, plan.grantsIndex + 2)).toEqual(['agt', SHARED_GRANTS_ID]);
    const values: unknown[] = plan.kinds.map(() => null);
    values[0] = agent;
    values[plan.grantsIndex] = { entitlements: [own] };
    values[plan.grantsIndex + 1] = { entitlements: [toOther, toAll] };
    const snapshot = assemble(plan, values, null, null, false);
    expect(snapshot.grants.map((e) => e.assignment_id)).toEqual(['a1', 'a4']);
  });
});
