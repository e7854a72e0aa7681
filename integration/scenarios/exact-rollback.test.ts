// Issue 9 §4 on the sandbox, both cases in one sandbox:
// (1) A rollback after the old machine was touched puts it back exactly. kubeswap never starts a rollback once the
//     old machine is being retired, so the reachable path is a replacement lost mid-retirement: kubeswap is killed
//     (-9) right after draining the old machine (deregistered from the API target group, cordoned), the replacement's
//     instance is then terminated in AWS (a lost VM), the re-run's rollback is itself killed, and a third run
//     finishes it: exit 3, and, read from AWS, the apiserver and etcd (not from kubeswap's events), the old machine is
//     registered and uncordoned, its marks are gone, and members, Nodes and instances are as before.
// (2) The machine timeout applies only while the replacement has not joined: past it, with the old machine already
//     drained, the replacement's etcd member goes down for a while; the re-run waits for it instead of tearing down
//     a voter, and the swap finishes.
import assert from 'node:assert/strict';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import type { KubeswapEvent } from '../../src/domain/events.ts';
import { awsClients, servingTargets } from '../sandbox/aws.ts';
import type { Sandbox } from '../sandbox/index.ts';
import {
  ClusterSampler,
  clusterTruth,
  codes,
  describeRun,
  essentials,
  kubeswap,
  sandboxEc2,
  useSandbox,
} from './harness.ts';

const MARKS = /^kubeswap\.io\//;

/** Etcd, sampled independently of kubeswap, never had fewer than 3 voting members (and the sampler was answered). */
function assertQuorumKept(sampler: ClusterSampler): void {
  assert.ok(sampler.samples > 10, `${sampler.samples} etcd samples answered`);
  assert.ok(sampler.minVoters >= 3, `never fewer than 3 voting members (saw ${sampler.minVoters})`);
}

describe('scenario: a rollback after the old machine was touched, and the machine timeout after the join', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  // Each run here takes under a minute on this machine: one that stalls is ended at 6 min, not at the harness's 15.
  const apply = (
    sb: Sandbox,
    more: string[],
    killAfter?: (e: KubeswapEvent) => boolean,
    onEvent?: (e: KubeswapEvent) => void,
  ) =>
    kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2', ...more], {
      killAfter,
      onEvent,
      timeoutMs: 6 * 60_000,
    });

  const core = (sb: Sandbox) => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    return kc.makeApiClient(k8s.CoreV1Api);
  };

  const registered = async (sb: Sandbox) => {
    const aws = awsClients(sb.aws.endpoint);
    try {
      return await servingTargets(aws, sb.aws.targetGroupArn);
    } finally {
      aws.ec2.destroy();
      aws.elb.destroy();
      aws.ssm.destroy();
      aws.asg.destroy();
    }
  };

  /** The old machine and its replacement, from a run killed right after the old machine's drain. */
  const drainedSwap = async (sb: Sandbox, more: string[] = []) => {
    const run = await apply(sb, more, (e) => e.code === 'node.drained');
    assert.equal(run.signal, 'SIGKILL', `the run reached node.drained: ${describeRun(run)}`);
    const started = run.events.find((e) => e.code === 'swap.started')!;
    const created = run.events.find((e) => e.code === 'replacement.created')!;
    return {
      oldNode: started.machine!,
      oldInstance: String(started.data!['oldMachine']),
      replacement: String(created.data!['replacement']),
      createdAt: new Date(created.at),
    };
  };

  it('(1) puts the old machine back (target registered, uncordoned) when its replacement is lost mid-retirement', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const targetsBefore = (await registered(sb)).sort();
    const sampler = new ClusterSampler(sb).start();
    try {
      const swap = await drainedSwap(sb);
      const touched = await core(sb).readNode({ name: swap.oldNode });
      assert.equal(touched.spec?.unschedulable, true, 'the old machine was cordoned');
      assert.ok(!(await registered(sb)).includes(swap.oldInstance), 'and is out of the API target group');

      // The replacement's VM is lost (terminated outside kubeswap); the sandbox stops it and marks its Node NotReady.
      const ec2 = sandboxEc2(sb);
      try {
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: [swap.replacement] }));
      } finally {
        ec2.destroy();
      }
      await sb.waitForMachine(swap.replacement, ['terminated'], 60_000);

      // The re-run rolls back (it must not wait for a healthy start: the lost replacement is what is unhealthy);
      // it is killed as its rollback begins, and the next run finishes the rollback.
      const interrupted = await apply(sb, [], (e) => e.code === 'replacement.failed');
      assert.equal(interrupted.signal, 'SIGKILL', `the re-run began its rollback: ${describeRun(interrupted)}`);
      const run = await apply(sb, []);
      assert.equal(run.exitCode, 3, describeRun(run));
      assert.ok(codes(run).includes('replacement.rolled-back'), describeRun(run));

      // Independently of kubeswap: the load balancer, the Node and etcd as they were before the run.
      assert.deepEqual((await registered(sb)).sort(), targetsBefore, 'the API target group as before');
      const restored = await core(sb).readNode({ name: swap.oldNode });
      assert.ok(!restored.spec?.unschedulable, 'the old machine is uncordoned');
      assert.deepEqual(
        Object.keys(restored.metadata?.annotations ?? {}).filter((k) => MARKS.test(k)),
        [],
        'no retirement marks left',
      );
      assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
    } finally {
      await sampler.stop();
    }
    assertQuorumKept(sampler);
  });

  it('(2) waits for a joined replacement whose member goes down past the machine timeout, never tears it down', async () => {
    const sb = sandbox();
    const timeout = ['--machine-timeout', '60s'];
    const sampler = new ClusterSampler(sb).start();
    let swap: Awaited<ReturnType<typeof drainedSwap>>;
    let rNode: string;
    let run: Awaited<ReturnType<typeof apply>>;
    try {
      swap = await drainedSwap(sb, timeout);
      rNode = (await clusterTruth(sb)).nodes.find((n) => n.providerId?.endsWith(`/${swap.replacement}`))!.name;
      const pastTimeout = swap.createdAt.getTime() + 65_000 - Date.now();
      if (pastTimeout > 0) await new Promise((r) => setTimeout(r, pastTimeout));
      await sb.fault({ kind: 'crash-etcd', node: rNode });

      // The re-run sees the replacement not healthy, past the timeout, with the old machine drained: it waits. Once it
      // says so, the member comes back, and the swap finishes (the run is stopped there: one swap shows the rule).
      let healed: Promise<string> | undefined;
      run = await apply(
        sb,
        timeout,
        (e) => e.code === 'swap.finished',
        (e) => {
          // Its wait names the replacement's member either as a join not finished or as the gate failing on it: which
          // one depends on what the re-run's first pass saw of the crash (the static pod's status lags the process).
          const waits = e.data?.['reason'] === 'replacement.joining' || e.data?.['reason'] === 'gate.failing';
          if (!healed && e.code === 'wait' && waits) {
            healed = sb.fault({ kind: 'heal', node: rNode });
          }
        },
      );
      await healed;
      assert.ok(healed, `the re-run waited for the replacement: ${describeRun(run)}`);
      // Killed at swap.finished, not by the time bound (a SIGKILL too): the CI run of a5bb8ec passed here after 969 s
      // without this check.
      assert.equal(run.signal, 'SIGKILL', `the swap finished: ${describeRun(run)}`);
      assert.ok(codes(run).includes('swap.finished'), `the swap finished: ${describeRun(run)}`);
      assert.deepEqual(
        codes(run).filter((c) => c === 'replacement.failed' || c === 'replacement.rolled-back'),
        [],
        describeRun(run),
      );
    } finally {
      await sampler.stop();
    }
    // As in (1): no voting member was removed below three (the crashed one stays listed; the drained old one votes on).
    assertQuorumKept(sampler);
    const after = await clusterTruth(sb);
    assert.ok(
      after.members.some((m) => m.name === rNode && !m.isLearner),
      'the replacement is a voting member',
    );
    assert.ok(!after.members.some((m) => m.name === swap.oldNode), `the old member is gone: ${describeRun(run)}`);
    assert.ok(after.running.some((i) => i.id === swap.replacement));
  });
});
