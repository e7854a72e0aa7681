// A swap through the group. Surge: the group launches the replacement when its desired capacity goes up by one
// (MaxSize raised for the run when at max); remove-first: the old instance leaves with the capacity decremented
// and the raise brings it back. The group's tags propagate at launch, so the replacement carries the request's
// token, run id and the machine it replaces, and a re-run finds it instead of raising the capacity again.
//
// Why not kops' detach (DetachInstances without decrement, the group launches a replacement, the detached old
// instance is drained and terminated outside the group): a detached instance no longer shows in the group, so a
// re-run after a kill -9 must find it by other means, its terminate lifecycle hooks no longer run, and the swap
// order (add, gate, remove) would be the group's choice rather than the planner's. Raising the capacity keeps every
// machine in the group, so listing the group is the truth, and Auto Scaling's own terminate path
// (TerminateInstanceInAutoScalingGroup, deregistration, lifecycle hooks) retires the old one.
import { pollUntil } from '../../src/domain/poll.ts';
import type { ProviderWait, ReplacementRequest } from '../../src/ports/machines.ts';
import type { Ec2Port } from '../aws-ec2/ec2-port.ts';
import { ProviderError } from '../aws-ec2/errors.ts';
import { type Ec2Machine, toMachine } from '../aws-ec2/instances.ts';
import { TAG } from '../aws-ec2/options.ts';
import { beginTermination, terminate } from '../aws-ec2/termination.ts';
import type { AsgPort } from './asg-port.ts';
import { type GroupFacts, groupFacts, isLeaving } from './group.ts';

export interface SwapContext {
  asg: AsgPort;
  ec2: Ec2Port;
  group: string;
  pollIntervalMs: number;
  launchTimeoutMs: number;
}

/** Tags the group propagates to the replacement it launches next (kubeswap's, never the cluster tag). */
export const PROPAGATED = [TAG.runId, TAG.replaces, TAG.token] as const;

export async function describe(context: SwapContext): Promise<GroupFacts> {
  const group = await context.asg.describeGroup(context.group);
  if (!group) throw new ProviderError('options.invalid', `Auto Scaling group ${context.group} does not exist`);
  return groupFacts(group);
}

/** The live instance of the group carrying this request's token, if it was launched already. */
async function launched(context: SwapContext, request: ReplacementRequest): Promise<Ec2Machine | undefined> {
  const found = await context.ec2.describeInstances([
    { Name: `tag:${TAG.token}`, Values: [request.token] },
    { Name: `tag:${TAG.replaces}`, Values: [request.replaces.id] },
    { Name: 'tag:aws:autoscaling:groupName', Values: [context.group] },
    { Name: 'instance-state-name', Values: ['pending', 'running'] },
  ]);
  return found.map((i) => toMachine(i))[0];
}

/**
 * Interrupted (`wait.signal`) while the group launches, the wait ends at once: the raised capacity and the propagated
 * tags stay, and the re-run finds the launched instance by its token instead of raising the capacity again.
 */
export async function createReplacement(
  context: SwapContext,
  request: ReplacementRequest,
  wait: ProviderWait = {},
): Promise<Ec2Machine> {
  const { asg } = context;
  // The previous swaps' replacements have joined and passed the gate: let their launch hooks go.
  await completeLaunchHooksOfRun(context, { runId: request.runId, exceptToken: request.token });
  let machine = await launched(context, request);
  if (!machine) {
    const group = await describe(context);
    await asg.setPropagatingTags(context.group, {
      ...request.tags,
      [TAG.runId]: request.runId,
      [TAG.replaces]: request.replaces.id,
      [TAG.token]: request.token,
    });
    // The live instances plus this one: idempotent, so a re-run whose raise already happened raises nothing.
    const wanted = group.instances.filter((i) => !isLeaving(i)).length + 1;
    if (wanted > group.maxSize) await asg.updateGroup({ AutoScalingGroupName: context.group, MaxSize: wanted });
    if (wanted > group.desiredCapacity) await asg.setDesiredCapacity(context.group, wanted);
    await pollUntil(
      async () => {
        machine = await launched(context, request);
        return machine !== undefined;
      },
      { intervalMs: context.pollIntervalMs, timeoutMs: context.launchTimeoutMs, signal: wait.signal },
    );
    if (!machine) {
      throw new ProviderError(
        'replacement.launch-timeout',
        `${context.group} launched no replacement of ${request.replaces.id} within ${context.launchTimeoutMs} ms`,
        {
          hint: `see the group's scaling activities (aws autoscaling describe-scaling-activities --auto-scaling-group-name ${context.group})`,
        },
      );
    }
  }
  // Scale-in must never pick the new control-plane machine for the rest of the run (removed at the run's end).
  await asg.setInstanceProtection(context.group, [machine.id], true);
  return machine;
}

/** The group's lifecycle hooks of one transition (AWS defaults: HeartbeatTimeout 3600 s, DefaultResult ABANDON). */
async function hooksOf(context: SwapContext, transition: 'LAUNCHING' | 'TERMINATING') {
  return (await context.asg.describeLifecycleHooks(context.group))
    .filter((h) => h.LifecycleTransition === `autoscaling:EC2_INSTANCE_${transition}`)
    .map((h) => ({ name: h.LifecycleHookName ?? '', heartbeatMs: (h.HeartbeatTimeout ?? 3600) * 1000 }));
}

/**
 * A replacement that has joined and serves: a launch lifecycle hook still holding it (Pending:Wait) is completed
 * with CONTINUE. Waiting it out is not safe: with the default
 * DefaultResult ABANDON, Auto Scaling would terminate a joined control-plane machine at the heartbeat timeout,
 * without a drain or an etcd member removal (AWS Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle
 * hooks": "If the heartbeat timeout expires ... the default action ... ABANDON ... terminates the instance").
 * A hook someone else completed already, or no hook: nothing to do.
 */
export async function completeLaunchHooks(context: SwapContext, instanceId: string): Promise<string[]> {
  const member = (await describe(context)).instances.find((i) => i.id === instanceId);
  if (member?.lifecycle !== 'Pending:Wait') return [];
  const hooks = await hooksOf(context, 'LAUNCHING');
  for (const hook of hooks) {
    await context.asg.completeLifecycleAction(context.group, hook.name, instanceId, 'CONTINUE').catch((error) => {
      // Completed by its own consumer meanwhile (or timed out): "No active Lifecycle Action found".
      if (!/No active Lifecycle Action/i.test(String(error))) throw error;
    });
  }
  return hooks.map((h) => h.name);
}

/**
 * The replacements of this run a launch hook still holds once the engine has moved past them: the engine starts the
 * next swap, retires the machine a replacement replaced, or ends the run only after that replacement joined and
 * passed the health gate. (Registering it as an API target would be the natural moment, but the group registers its
 * instances in the attached target groups itself, so the engine has nothing to register.) `replaces`: only the
 * replacement of that machine; `except`: not the one with this token (the swap being started).
 */
export async function completeLaunchHooksOfRun(
  context: SwapContext,
  select: { runId: string; exceptToken?: string } | { replaces: string },
): Promise<string[]> {
  const held = (await describe(context)).instances.filter((i) => i.lifecycle === 'Pending:Wait').map((i) => i.id);
  if (held.length === 0) return [];
  const filters = [
    { Name: 'instance-id', Values: held },
    'runId' in select
      ? { Name: `tag:${TAG.runId}`, Values: [select.runId] }
      : { Name: `tag:${TAG.replaces}`, Values: [select.replaces] },
  ];
  const done: string[] = [];
  for (const instance of await context.ec2.describeInstances(filters)) {
    const token = instance.Tags?.find((t) => t.Key === TAG.token)?.Value;
    if ('exceptToken' in select && select.exceptToken !== undefined && token === select.exceptToken) continue;
    if ((await completeLaunchHooks(context, instance.InstanceId!)).length > 0) done.push(instance.InstanceId!);
  }
  return done;
}

/**
 * How a retirement starts through the group: with the capacity decremented, so it launches nothing in its place;
 * MinSize is lowered for the run when the decrement would go below it (remove-first). Not (or no longer) in the
 * group: EC2. Already leaving: nothing (TerminateInstanceInAutoScalingGroup only makes a termination request).
 */
function startInGroup(context: SwapContext): (instanceId: string) => Promise<void> {
  return async (instanceId) => {
    const group = await describe(context);
    const member = group.instances.find((i) => i.id === instanceId);
    if (!member) return context.ec2.terminateInstances([instanceId]);
    if (isLeaving(member)) return;
    if (group.desiredCapacity - 1 < group.minSize) {
      await context.asg.updateGroup({ AutoScalingGroupName: context.group, MinSize: group.desiredCapacity - 1 });
    }
    await context.asg.terminateInstance(instanceId, true);
  };
}

/**
 * The longest heartbeat timeout of the group's terminate lifecycle hooks: how much longer than --termination-timeout
 * its termination may take, since the instance waits in Terminating:Wait for the hook's consumer (a backup, a log
 * shipper) until completed or that timeout passes (AWS Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle
 * hooks"). kubeswap never completes a terminate hook itself, nor goes around it with ec2:TerminateInstances.
 */
export async function terminateHookMs(context: SwapContext): Promise<number> {
  return Math.max(0, ...(await hooksOf(context, 'TERMINATING')).map((h) => h.heartbeatMs));
}

/**
 * Retires through the group and waits until the instance is terminated (a terminate hook's time allowed); interrupted,
 * the wait ends and the instance goes on leaving the group.
 */
export async function terminateInGroup(
  context: SwapContext,
  machineId: string,
  timeoutMs: number,
  wait: ProviderWait = {},
): Promise<void> {
  const hookMs = await terminateHookMs(context);
  await terminate(context.ec2, machineId, timeoutMs + hookMs, context.pollIntervalMs, startInGroup(context), wait);
}

/**
 * Retires through the group without waiting (`beginTermination`). TerminateInstanceInAutoScalingGroup "simply makes a
 * termination request. The instance is not terminated immediately" (Auto Scaling API Reference): the instance goes
 * Terminating (Terminating:Wait while a terminate hook holds it), then Terminated, and the listing reads it
 * `deleting` meanwhile, with the hook's heartbeat as its termination allowance (terminateHookMs).
 */
export async function beginTerminationInGroup(context: SwapContext, machineId: string): Promise<void> {
  await beginTermination(context.ec2, machineId, startInGroup(context));
}
