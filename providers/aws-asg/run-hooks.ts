// The run-wide changes to the group (MachineProvider.run): before the first change, refuse a busy group, record
// its sizes and suspended processes in the progress record, suspend the processes that would fight the run and
// point the group at the target launch template version; at every end, restore what is safe to restore.
import { KubeswapError } from '../../src/domain/errors.ts';
import type { RunHooks } from '../../src/ports/machines.ts';
import type { Ec2Port } from '../aws-ec2/ec2-port.ts';
import { TAG } from '../aws-ec2/options.ts';
import type { AsgPort } from './asg-port.ts';
import { baselineOf, busyProblems, type GroupBaseline, restorePlan, runSuspends } from './group.ts';
import { completeLaunchHooksOfRun, describe, PROPAGATED } from './swaps.ts';

export function groupRunHooks(context: {
  asg: AsgPort;
  ec2: Ec2Port;
  group: string;
  pollIntervalMs: number;
  launchTimeoutMs: number;
}): RunHooks {
  const { asg } = context;
  return {
    async begin({ desired, saved, record }) {
      const group = await describe(context);
      let baseline = saved as GroupBaseline | undefined;
      if (!baseline) {
        // Only on the run's first start: a resumed run finds its own replacement Pending or the refresh paused.
        const problems = busyProblems(group, await asg.describeInstanceRefreshes(context.group));
        if (problems.length > 0) {
          throw new KubeswapError('blocked', problems[0]!.code, problems.map((p) => p.message).join('; '), {
            hint: problems[0]!.hint,
            problems,
          });
        }
        baseline = baselineOf(group);
      }
      // Recorded before anything changes, so a kill -9 from here on is undone by the re-run.
      await record(baseline);
      await asg.suspendProcesses(
        context.group,
        runSuspends(baseline).filter((p) => !group.suspended.includes(p)),
      );
      const target = desired.template;
      if (
        target &&
        group.launchTemplate &&
        group.launchTemplate.version !== target.version &&
        !group.launchTemplate.mixed
      ) {
        // Any launch from here on (our surge, a scale-out) boots the target image.
        await asg.updateGroup({
          AutoScalingGroupName: context.group,
          LaunchTemplate: { LaunchTemplateId: target.id, Version: target.version },
        });
      }
    },

    async end({ runId, saved }) {
      const baseline = saved as GroupBaseline;
      // The last replacement's launch hook: the run is over, so is its wait (swaps.ts completeLaunchHooks).
      await completeLaunchHooksOfRun(context, { runId });
      const group = await describe(context);
      const ids = group.instances.map((i) => i.id);
      const tagged = new Map<string, string>();
      if (ids.length > 0) {
        for (const instance of await context.ec2.describeInstances([{ Name: 'instance-id', Values: ids }])) {
          const run = instance.Tags?.find((t) => t.Key === TAG.runId)?.Value;
          if (instance.InstanceId && run) tagged.set(instance.InstanceId, run);
        }
      }
      const plan = restorePlan(baseline, group, runId, tagged);
      if (!plan.safe) return { restored: false, message: plan.message };
      if (plan.sizes) await asg.updateGroup({ AutoScalingGroupName: context.group, ...plan.sizes });
      await asg.setInstanceProtection(context.group, plan.unprotect, false);
      await asg.deleteTags(
        context.group,
        PROPAGATED.filter((key) => group.tags[key] !== undefined),
      );
      await asg.resumeProcesses(context.group, plan.resume);
      return { restored: true, message: plan.message };
    },
  };
}
