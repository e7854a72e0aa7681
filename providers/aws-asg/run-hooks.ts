// The run-wide changes to the groups (MachineProvider.run): before the first change, refuse a busy group, record
// its sizes and suspended processes in the progress record, suspend the processes that would fight the run and
// point the control-plane group at the target launch template version; at every end, restore what is safe to
// restore. Only the groups the run replaces machines in are touched (`pools`: a --control-plane-only run leaves the
// worker groups alone, a --workers-only run the control-plane group); worker groups (pools.ts) get the same record,
// refusal, suspension and restore; their launch template is pointed at the target only at the pool's first launch.
import { KubeswapError } from '../../src/domain/errors.ts';
import { CONTROL_PLANE_POOL } from '../../src/domain/model.ts';
import type { RunHooks } from '../../src/ports/machines.ts';
import { wrapAwsError } from '../aws-ec2/errors.ts';
import { TAG } from '../aws-ec2/options.ts';
import { baselineOf, busyProblems, type GroupBaseline, type GroupFacts, restorePlan, runSuspends } from './group.ts';
import { completeLaunchHooksOfRun, describe, PROPAGATED, type SwapContext } from './swaps.ts';

/**
 * What the progress record keeps: each group's baseline, the groups of this run and of earlier attempts or an
 * abandoned run whose changes are not undone yet, and the runs that may have protected instances in them.
 */
export interface RunBaseline {
  groups: GroupBaseline[];
  runs: string[];
}

/** The record as written now, or as written before (the control-plane group's baseline, plus `workers`). */
export function baselinesOf(saved: unknown): RunBaseline {
  if (!saved || typeof saved !== 'object') return { groups: [], runs: [] };
  const s = saved as Partial<RunBaseline> & Partial<GroupBaseline> & { workers?: GroupBaseline[] };
  if (Array.isArray(s.groups)) return { groups: s.groups, runs: s.runs ?? [] };
  const { workers, runs: _, ...main } = s;
  return { groups: [...(main.group ? [main as GroupBaseline] : []), ...(workers ?? [])], runs: [] };
}

/**
 * An AWS call of the run hooks, its failure coded as the provider's other calls are (aws-ec2/errors.ts): a denied
 * SuspendProcesses or UpdateAutoScalingGroup is `aws.access-denied` (exit 4: grant it, re-run), not a raw SDK error.
 */
async function aws<T>(action: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw wrapAwsError(action, error);
  }
}

/** `workerGroups`: pool name -> its worker Auto Scaling group. */
export function groupRunHooks(context: SwapContext, workerGroups: ReadonlyMap<string, string> = new Map()): RunHooks {
  const { asg } = context;
  return {
    async begin({ runId, desired, saved, record, pools }) {
      const previous = baselinesOf(saved);
      const touched = pools ?? [CONTROL_PLANE_POOL, ...workerGroups.keys()];
      const touchesControlPlane = touched.includes(CONTROL_PLANE_POOL);
      const contexts = [
        ...(touchesControlPlane ? [context] : []),
        ...touched.flatMap((pool) => {
          const group = workerGroups.get(pool);
          return group ? [{ ...context, group }] : [];
        }),
      ];
      const groups: GroupFacts[] = [];
      for (const ctx of contexts) groups.push(await aws(`describe Auto Scaling group ${ctx.group}`, describe(ctx)));
      const baselines: GroupBaseline[] = [];
      for (const group of groups) {
        const known = previous.groups.find((b) => b.group === group.name);
        if (known) {
          baselines.push(known);
          continue;
        }
        // Only on a group's first start: a resumed run finds its own replacement Pending or the refresh paused.
        const refreshes = await aws(
          `describe the instance refreshes of ${group.name}`,
          asg.describeInstanceRefreshes(group.name),
        );
        const problems = busyProblems(group, refreshes);
        if (problems.length > 0) {
          throw new KubeswapError('blocked', problems[0]!.code, problems.map((p) => p.message).join('; '), {
            hint: problems[0]!.hint,
            problems,
          });
        }
        baselines.push(baselineOf(group));
      }
      // A group an earlier attempt of this run (or an abandoned run) changed but this one leaves out (a narrower
      // --pools, --control-plane-only): its baseline stays in the record, its processes stay suspended, and end()
      // restores it with the others.
      const names = new Set(groups.map((g) => g.name));
      const kept = previous.groups.filter((b) => !names.has(b.group));
      const runs = [...new Set([...previous.runs, runId])];
      // Recorded before anything changes, so a kill -9 from here on is undone by the re-run.
      await record({ groups: [...baselines, ...kept], runs } satisfies RunBaseline);
      for (const [i, group] of groups.entries()) {
        await aws(
          `suspend the scaling processes of ${group.name}`,
          asg.suspendProcesses(
            group.name,
            runSuspends(baselines[i]!).filter((p) => !group.suspended.includes(p)),
          ),
        );
      }
      const group = touchesControlPlane ? groups[0]! : undefined;
      const target = desired.template;
      if (
        group &&
        target &&
        group.launchTemplate &&
        group.launchTemplate.version !== target.version &&
        !group.launchTemplate.mixed
      ) {
        // Any launch from here on (our surge, a scale-out) boots the target image.
        await aws(
          `point ${context.group} at launch template ${target.id} version ${target.version}`,
          asg.updateGroup({
            AutoScalingGroupName: context.group,
            LaunchTemplate: { LaunchTemplateId: target.id, Version: target.version },
          }),
        );
      }
    },

    async end({ runId, saved }) {
      const { groups, runs } = baselinesOf(saved);
      const all = [...new Set([...runs, runId])];
      const outcomes = [];
      for (const baseline of groups)
        outcomes.push(await restoreGroup({ ...context, group: baseline.group }, baseline, all));
      return {
        restored: outcomes.every((o) => o.restored),
        message: outcomes.length > 0 ? outcomes.map((o) => o.message).join('; ') : 'no group was changed',
      };
    },
  };
}

async function restoreGroup(
  context: SwapContext,
  baseline: GroupBaseline,
  runs: readonly string[],
): Promise<{ restored: boolean; message: string }> {
  const { asg } = context;
  const name = context.group;
  // The last replacement's launch hook: the run is over, so is its wait (swaps.ts completeLaunchHooks).
  for (const runId of runs)
    await aws(`complete the launch lifecycle actions of ${name}`, completeLaunchHooksOfRun(context, { runId }));
  const group = await aws(`describe Auto Scaling group ${name}`, describe(context));
  const ids = group.instances.map((i) => i.id);
  const tagged = new Map<string, string>();
  if (ids.length > 0) {
    const instances = await aws(
      `describe the instances of ${name}`,
      context.ec2.describeInstances([{ Name: 'instance-id', Values: ids }]),
    );
    for (const instance of instances) {
      const run = instance.Tags?.find((t) => t.Key === TAG.runId)?.Value;
      if (instance.InstanceId && run) tagged.set(instance.InstanceId, run);
    }
  }
  const plan = restorePlan(baseline, group, runs, tagged);
  if (!plan.safe) return { restored: false, message: plan.message };
  if (plan.sizes)
    await aws(`restore the sizes of ${name}`, asg.updateGroup({ AutoScalingGroupName: name, ...plan.sizes }));
  await aws(`remove the scale-in protection in ${name}`, asg.setInstanceProtection(name, plan.unprotect, false));
  await aws(
    `remove the propagated kubeswap tags of ${name}`,
    asg.deleteTags(
      name,
      PROPAGATED.filter((key) => group.tags[key] !== undefined),
    ),
  );
  await aws(`resume the scaling processes of ${name}`, asg.resumeProcesses(name, plan.resume));
  return { restored: true, message: plan.message };
}
