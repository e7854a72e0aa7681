import assert from 'node:assert/strict';
import {
  anyLeaving,
  asLeaving,
  baselineOf,
  busyProblems,
  type GroupFacts,
  groupFacts,
  groupProblems,
  restorePlan,
  runSuspends,
} from '../../../providers/aws-asg/group.ts';
import { FakeGroup } from './fake-group.ts';

const facts = (fake: FakeGroup): GroupFacts => groupFacts(fake.group());

describe('aws-asg group rules', () => {
  it('suspends the fighting processes the user had not suspended, never Launch or Terminate', () => {
    assert.deepEqual(runSuspends({ userSuspended: ['AZRebalance', 'AddToLoadBalancer'] }), [
      'ReplaceUnhealthy',
      'HealthCheck',
      'ScheduledActions',
      'AlarmNotification',
      'InstanceRefresh',
    ]);
    assert.equal(runSuspends({ userSuspended: [] }).includes('Launch'), false);
  });

  it('refuses an unknown group, a group of another cluster and a launch-configuration group, each with a hint', () => {
    assert.deepEqual(
      groupProblems(undefined, 'cp', 'c1').map((p) => p.code),
      ['asg.not-found'],
    );
    const fake = new FakeGroup();
    assert.deepEqual(groupProblems(facts(fake), 'cp', 'c1'), []);
    assert.deepEqual(
      groupProblems(facts(fake), 'cp', 'other').map((p) => p.code),
      ['asg.not-in-cluster'],
    );
    const lc = { ...facts(fake), launchTemplate: undefined, launchConfiguration: 'cp-lc' };
    const [problem] = groupProblems(lc, 'cp', 'c1');
    assert.equal(problem?.code, 'asg.launch-configuration');
    assert.match(problem?.message ?? '', /launch configuration cp-lc/);
    assert.match(problem?.hint ?? '', /launch template/);
  });

  it('refuses a group launching through a mixed instances policy (its launch template version is never set)', () => {
    const fake = new FakeGroup();
    fake.mixed = true;
    const [problem, ...rest] = groupProblems(facts(fake), 'cp', 'c1');
    assert.deepEqual(rest, []);
    assert.equal(problem?.code, 'asg.mixed-instances-policy');
    assert.match(problem?.message ?? '', /Auto Scaling group cp launches through a mixed instances policy/);
    assert.match(problem?.hint ?? '', /launch template of its own/);
  });

  it('refuses a refresh in progress, instances in Standby or waiting on a hook, and a suspended Launch', () => {
    const fake = new FakeGroup();
    assert.deepEqual(busyProblems(facts(fake), [{ Status: 'Successful' }]), []);
    fake.instances[0]!.lifecycle = 'Standby';
    fake.instances[1]!.lifecycle = 'Terminating:Wait';
    fake.suspended = ['Launch'];
    const codes = busyProblems(facts(fake), [{ Status: 'InProgress', InstanceRefreshId: 'r-1' }]).map((p) => p.code);
    assert.deepEqual(codes, ['asg.instance-refresh', 'asg.instances-busy', 'asg.process-suspended']);
  });

  it('restores a group back at its recorded capacity: sizes, the run-suspended processes, its own protection', () => {
    const fake = new FakeGroup();
    fake.suspended = ['AZRebalance'];
    const baseline = baselineOf(facts(fake));
    fake.suspended = ['AZRebalance', ...runSuspends(baseline)];
    fake.max = 4;
    fake.instances[0]!.protected = true; // protected by this run
    fake.instances[1]!.protected = true; // by someone else (another run id)
    const tagged = new Map([
      [fake.instances[0]!.id, 'run-1'],
      [fake.instances[1]!.id, 'run-0'],
    ]);
    const plan = restorePlan(baseline, facts(fake), 'run-1', tagged);
    assert.equal(plan.safe, true);
    assert.deepEqual(plan.sizes, { MinSize: 3, MaxSize: 3, DesiredCapacity: 3 });
    assert.deepEqual(plan.resume, runSuspends(baseline));
    assert.ok(!plan.resume.includes('AZRebalance'));
    assert.deepEqual(plan.unprotect, [fake.instances[0]!.id]);
  });

  it('restores nothing while the group holds a swap in flight (one instance more than recorded)', () => {
    const fake = new FakeGroup();
    const baseline = baselineOf(facts(fake));
    fake.desired = 4;
    fake.max = 4;
    fake.instances.push({ ...fake.instances[0]!, id: 'i-new' });
    const plan = restorePlan(baseline, facts(fake), 'run-1', new Map());
    assert.equal(plan.safe, false);
    assert.match(plan.message, /holds 4 instance\(s\), recorded 3/);
  });
  it("gives every leaving instance the terminate hooks' allowance, in the group or already out of it", () => {
    const fake = new FakeGroup();
    fake.instances[1]!.lifecycle = 'Terminating:Wait';
    const group = facts(fake);
    const machines: { id: string; phase: string; status?: string; terminationAllowanceMs?: number }[] = [
      { id: fake.instances[0]!.id, phase: 'running' },
      { id: fake.instances[1]!.id, phase: 'running' }, // held by the hook: EC2 still says running
      { id: 'i-gone-from-group', phase: 'deleting' }, // hook done, the group let it go, EC2 shutting it down
      { id: 'i-long-gone', phase: 'gone' },
    ];
    assert.equal(anyLeaving(machines, group), true);
    const out = asLeaving(machines, group, 600_000);
    assert.deepEqual(
      out.map((m) => [m.phase, m.terminationAllowanceMs]),
      [
        ['running', undefined],
        ['deleting', 600_000],
        ['deleting', 600_000],
        ['gone', undefined],
      ],
    );
    assert.equal(out[1]?.status, 'Terminating:Wait');
    // Out of the group only (a resumed run after the hook ended): still leaving, so the hooks are read.
    fake.instances[1]!.lifecycle = 'InService';
    assert.equal(anyLeaving(machines.slice(2), facts(fake)), true);
    assert.equal(anyLeaving(machines.slice(0, 2), facts(fake)), false);
    assert.deepEqual(
      asLeaving(machines, facts(fake), 0).map((m) => m.terminationAllowanceMs),
      [undefined, undefined, undefined, undefined],
    );
  });
});
