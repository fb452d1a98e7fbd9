import { AccessPackages, type Actor } from '../../../src/governance/access-packages';
import { MemoryStore } from '../../../src/store/memory-store';
import { SHARED_GRANTS_ID } from '../../../src/store/snapshot';
import { TestClock } from '../../helpers/app';

const admin: Actor = { name: 'alice', admin: true };
const PACKAGE = {
  display_name: 'Open',
  resources: { 'api://x': ['x.read'] },
  max_duration_seconds: 3600,
  requestors: ['admin' as const],
  approvers: { sponsors: false, users: [] },
  justification_required: false,
};

async function setUp(maxActive?: number) {
  const store = new MemoryStore();
  const clock = new TestClock();
  let n = 0;
  const access = new AccessPackages(store, clock.now, () => `asg-${++n}`, maxActive);
  await store.put('blueprint', 't', 'bp-1', { id: 'bp-1', enabled: true, permissions: {}, attributes: {} });
  await store.put('agent', 't', 'agt-1', {
    id: 'agt-1',
    blueprint_id: 'bp-1',
    enabled: true,
    sponsors: ['u-s'],
    attributes: {},
  });
  await access.putPackage('t', 'pkg', PACKAGE, admin);
  return { store, clock, access };
}

describe('AccessPackages', () => {
  it('refuses an assignment past the active limit of a grants record, counting only active ones', async () => {
    const { access, clock } = await setUp(2);
    const shared = { target: { all_agents: true as const }, duration_seconds: 600 };
    await access.request('t', 'pkg', shared, admin);
    await access.request('t', 'pkg', { ...shared, duration_seconds: 3600 }, admin);
    await expect(access.request('t', 'pkg', shared, admin)).rejects.toMatchObject({
      code: 'shared_assignments_limit',
    });
    // The first expires: its place is free again, and the record no longer holds it.
    clock.advance(600_000);
    await access.request('t', 'pkg', shared, admin);
  });

  it('keeps every entitlement when approvals for one agent run concurrently', async () => {
    const { access, store } = await setUp();
    const target = { agent_id: 'agt-1' };
    await Promise.all(
      Array.from({ length: 8 }, () => access.request('t', 'pkg', { target, duration_seconds: 600 }, admin)),
    );
    const grants = await store.get('grants:agent', 't', 'agt-1');
    expect(grants?.entitlements.map((e) => e.assignment_id).sort()).toEqual(
      ['asg-1', 'asg-2', 'asg-3', 'asg-4', 'asg-5', 'asg-6', 'asg-7', 'asg-8'].sort(),
    );
  });

  it('writes shared entitlements with their target and drops the grants key when the last is revoked', async () => {
    const { access, store } = await setUp();
    const a = await access.request(
      't',
      'pkg',
      { target: { blueprint_id: 'bp-1' }, duration_seconds: 600 },
      admin,
    );
    const shared = await store.get('grants:shared', 't', SHARED_GRANTS_ID);
    expect(shared?.entitlements).toEqual([
      {
        assignment_id: a.id,
        package_id: 'pkg',
        permissions: PACKAGE.resources,
        expires_at: '2026-11-27T12:10:00.000Z',
        expires_at_epoch: Date.parse('2026-11-27T12:10:00Z') / 1000,
        target: { blueprint_id: 'bp-1' },
      },
    ]);
    await access.revoke('t', a.id, admin);
    expect(await store.get('grants:shared', 't', SHARED_GRANTS_ID)).toBeNull();
  });
});
