// The run-wide changes to the groups (MachineProvider.run): before the first change, refuse a busy group, record
// its sizes and suspended processes in the progress record, suspend the processes that would fight the run and
// point the control-plane group at the target launch template version; at every end, restore what is safe to
// restore. Worker groups (pools.ts) get the same record, refusal, suspension and restore; their launch template
// is pointed at the target only at the pool's first launch.
import { KubeswapError } from '../../src/domain/errors.ts';
import type { RunHooks } from '../../src/ports/machines.ts';
import { TAG } from '../aws-ec2/options.ts';
import { baselineOf, busyProblems, type GroupBaseline, type GroupFacts, restorePlan, runSuspends } from './group.ts';
import { completeLaunchHooksOfRun, describe, PROPAGATED, type SwapContext } from './swaps.ts';

/** What the progress record keeps: the control-plane group's baseline (as before pools), plus each worker group's. */
export type RunBaseline = GroupBaseline & { workers?: GroupBaseline[] };

export function groupRunHooks(context: SwapContext, workerGroups: readonly string[] = []): RunHooks {
  const { asg } = context;
  const contexts = [context, ...workerGroups.map((group) => ({ ...context, group }))];
  return {
    async begin({ desired, saved, record }) {
      const previous = saved as RunBaseline | undefined;
      const groups: GroupFacts[] = [];
      for (const ctx of contexts) groups.push(await describe(ctx));
      const baselines: GroupBaseline[] = [];
      for (const [i, group] of groups.entries()) {
        const known = i === 0 ? previous : previous?.workers?.find((b) => b.group === group.name);
        if (known) {
          baselines.push(known);
          continue;
        }
        // Only on a group's first start: a resumed run finds its own replacement Pending or the refresh paused.
        const problems = busyProblems(group, await asg.describeInstanceRefreshes(group.name));
        if (problems.length > 0) {
          throw new KubeswapError('blocked', problems[0]!.code, problems.map((p) => p.message).join('; '), {
            hint: problems[0]!.hint,
            problems,
          });
        }
        baselines.push(baselineOf(group));
      }
      const [main, ...workers] = baselines;
      // Recorded before anything changes, so a kill -9 from here on is undone by the re-run.
      await record(workers.length > 0 ? { ...main!, workers } : main!);
      for (const [i, group] of groups.entries()) {
        await asg.suspendProcesses(
          group.name,
          runSuspends(baselines[i]!).filter((p) => !group.suspended.includes(p)),
        );
      }
      const group = groups[0]!;
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
      const baseline = saved as RunBaseline;
      const { workers, ...main } = baseline;
      const outcomes = [await restoreGroup(context, main, runId)];
      for (const worker of workers ?? [])
        outcomes.push(await restoreGroup({ ...context, group: worker.group }, worker, runId));
      return {
        restored: outcomes.every((o) => o.restored),
        message: outcomes.map((o) => o.message).join('; '),
      };
    },
  };
}

async function restoreGroup(
  context: SwapContext,
  baseline: GroupBaseline,
  runId: string,
): Promise<{ restored: boolean; message: string }> {
  const { asg } = context;
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
}
