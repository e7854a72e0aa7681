// The group as facts, and the pure rules over them: which groups are refused, which processes a run suspends
// (never the user's), and what restoring the group means. No I/O here: table-tested in test/providers/aws-asg.
import type { AutoScalingGroup, InstanceRefresh } from '@aws-sdk/client-auto-scaling';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import { clusterTagKey } from '../aws-ec2/options.ts';

export interface GroupInstance {
  id: string;
  /** Auto Scaling lifecycle state: InService, Pending, Pending:Wait, Standby, Terminating, ... */
  lifecycle: string;
  protected: boolean;
  launchTemplate?: { id: string; version: string };
}

export interface GroupFacts {
  name: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  suspended: string[];
  newInstancesProtected: boolean;
  /** The group's launch template (its own, or the mixed instances policy's); version as the group holds it. */
  launchTemplate?: { id: string; version: string; mixed: boolean };
  launchConfiguration?: string;
  targetGroupArns: string[];
  tags: Record<string, string>;
  instances: GroupInstance[];
}

export function groupFacts(group: AutoScalingGroup): GroupFacts {
  const spec = group.LaunchTemplate ?? group.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
  const ltId = spec?.LaunchTemplateId ?? spec?.LaunchTemplateName;
  return {
    name: group.AutoScalingGroupName ?? '',
    minSize: group.MinSize ?? 0,
    maxSize: group.MaxSize ?? 0,
    desiredCapacity: group.DesiredCapacity ?? 0,
    suspended: (group.SuspendedProcesses ?? []).map((p) => p.ProcessName ?? '').filter(Boolean),
    newInstancesProtected: group.NewInstancesProtectedFromScaleIn ?? false,
    ...(ltId
      ? { launchTemplate: { id: ltId, version: spec?.Version ?? '$Default', mixed: !group.LaunchTemplate } }
      : {}),
    ...(group.LaunchConfigurationName ? { launchConfiguration: group.LaunchConfigurationName } : {}),
    targetGroupArns: group.TargetGroupARNs ?? [],
    tags: Object.fromEntries((group.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
    instances: (group.Instances ?? []).map((i) => ({
      id: i.InstanceId ?? '',
      lifecycle: i.LifecycleState ?? 'Pending',
      protected: i.ProtectedFromScaleIn ?? false,
      ...(i.LaunchTemplate?.LaunchTemplateId
        ? { launchTemplate: { id: i.LaunchTemplate.LaunchTemplateId, version: i.LaunchTemplate.Version ?? '' } }
        : {}),
    })),
  };
}

/**
 * The processes that would fight a run (AWS Auto Scaling User Guide, "Suspend and resume processes"):
 * AZRebalance and ReplaceUnhealthy terminate instances without a drain or an etcd member removal, HealthCheck
 * marks a joining instance unhealthy, ScheduledActions and AlarmNotification change the capacity under the run,
 * InstanceRefresh replaces instances itself. Launch and Terminate stay: the swaps use them.
 */
export const FIGHTING_PROCESSES = [
  'AZRebalance',
  'ReplaceUnhealthy',
  'HealthCheck',
  'ScheduledActions',
  'AlarmNotification',
  'InstanceRefresh',
] as const;

/** What a run records before its first change of the group, and restores at its end. */
export interface GroupBaseline {
  group: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  /** Suspended before the run: the user's, never resumed by kubeswap. */
  userSuspended: string[];
  newInstancesProtected: boolean;
}

export function baselineOf(group: GroupFacts): GroupBaseline {
  return {
    group: group.name,
    minSize: group.minSize,
    maxSize: group.maxSize,
    desiredCapacity: group.desiredCapacity,
    userSuspended: [...group.suspended].sort(),
    newInstancesProtected: group.newInstancesProtected,
  };
}

/** The processes this run suspends, and later resumes: the fighting ones the user had not suspended. */
export function runSuspends(baseline: Pick<GroupBaseline, 'userSuspended'>): string[] {
  return FIGHTING_PROCESSES.filter((p) => !baseline.userSuspended.includes(p));
}

/** States where a person or another system is in the middle of something with the instance. */
const BUSY_LIFECYCLE = new Set(['Standby', 'EnteringStandby', 'Pending:Wait', 'Terminating:Wait']);
/** DescribeInstanceRefreshes statuses that mean a refresh still acts on the group. */
const REFRESH_ACTIVE = new Set(['Pending', 'InProgress', 'Cancelling', 'RollbackInProgress', 'Baking']);
/** Instances on their way out (they no longer count towards the group's capacity). */
const LEAVING = /^(Terminating|Terminated|Detaching|Detached)/;

export const isLeaving = (i: GroupInstance) => LEAVING.test(i.lifecycle);

/**
 * The group's instances as the engine's machines. One on its way out of the group reads deleting, whatever EC2 still
 * says. Every deleting one carries the terminate hooks' allowance (`allowanceMs`, the longest heartbeat), also once
 * the hook is done and the group has let it go while EC2 is still shutting it down: the allowance bounds the whole
 * termination, as the waiting `terminate` did (README: --termination-timeout plus the hook's heartbeat), not only
 * its time in the group.
 */
export function asLeaving<M extends { id: string; phase: string; status?: string; terminationAllowanceMs?: number }>(
  machines: readonly M[],
  group: Pick<GroupFacts, 'instances'> | undefined,
  allowanceMs: number,
): M[] {
  return machines.map((machine) => {
    const member = group?.instances.find((i) => i.id === machine.id);
    const leaving =
      member && isLeaving(member) && machine.phase !== 'gone'
        ? { ...machine, phase: 'deleting', status: member.lifecycle }
        : machine;
    return leaving.phase === 'deleting' && allowanceMs > 0
      ? { ...leaving, terminationAllowanceMs: allowanceMs }
      : leaving;
  });
}

/** Whether any instance is leaving: in the group on its way out, or out of it and still shutting down. */
export function anyLeaving(
  machines: readonly { id: string; phase: string }[],
  group: Pick<GroupFacts, 'instances'> | undefined,
): boolean {
  return group?.instances.some(isLeaving) === true || machines.some((m) => m.phase === 'deleting');
}

/** Why a group is not one kubeswap can manage for this cluster (bad input: exit 2 with the hint). */
export function groupProblems(group: GroupFacts | undefined, name: string, clusterName: string): ProviderProblem[] {
  if (!group) {
    return [
      {
        code: 'asg.not-found',
        message: `Auto Scaling group ${name} does not exist`,
        hint: 'check provider.autoScalingGroup and the region',
      },
    ];
  }
  const problems: ProviderProblem[] = [];
  const tag = group.tags[clusterTagKey(clusterName)];
  if (tag !== 'owned' && tag !== 'shared') {
    problems.push({
      code: 'asg.not-in-cluster',
      message: `Auto Scaling group ${name} is not tagged ${clusterTagKey(clusterName)} (owned or shared)`,
      hint: 'check --cluster-name and provider.autoScalingGroup: the group belongs to another cluster, or tag it',
    });
  }
  if (!group.launchTemplate) {
    problems.push({
      code: 'asg.launch-configuration',
      message: `Auto Scaling group ${name} uses ${group.launchConfiguration ? `launch configuration ${group.launchConfiguration}` : 'no launch template'}`,
      hint: 'kubeswap sets launch template versions: migrate the group to a launch template (AWS: "Migrate your Auto Scaling groups to launch templates")',
    });
  }
  // kubeswap points the group's own LaunchTemplate at the target version (UpdateAutoScalingGroup LaunchTemplate); a
  // group launching through a MixedInstancesPolicy takes its template from the policy instead, which kubeswap does
  // not rewrite: its replacements would boot the old image, drift again and be replaced again, without end.
  if (group.launchTemplate?.mixed) {
    problems.push({
      code: 'asg.mixed-instances-policy',
      message: `Auto Scaling group ${name} launches through a mixed instances policy; kubeswap only sets a group's own launch template version`,
      hint: 'give the group a launch template of its own instead of the mixed instances policy (a worker group: or leave its pool out with --pools)',
    });
  }
  return problems;
}

/** Refusals before a run's first change (nothing changed: exit 2). */
export function busyProblems(group: GroupFacts, refreshes: InstanceRefresh[]): ProviderProblem[] {
  const problems: ProviderProblem[] = [];
  const refresh = refreshes.find((r) => REFRESH_ACTIVE.has(r.Status ?? ''));
  if (refresh) {
    problems.push({
      code: 'asg.instance-refresh',
      message: `an instance refresh (${refresh.InstanceRefreshId ?? '?'}) is ${refresh.Status} on ${group.name}`,
      hint: `wait for it to end or cancel it (aws autoscaling cancel-instance-refresh --auto-scaling-group-name ${group.name})`,
    });
  }
  const busy = group.instances.filter((i) => BUSY_LIFECYCLE.has(i.lifecycle));
  if (busy.length > 0) {
    problems.push({
      code: 'asg.instances-busy',
      message: `instances of ${group.name} are ${busy.map((i) => `${i.id} ${i.lifecycle}`).join(', ')}`,
      hint: 'put Standby instances back in service and let lifecycle hooks complete, then re-run',
    });
  }
  for (const needed of ['Launch', 'Terminate']) {
    if (group.suspended.includes(needed)) {
      problems.push({
        code: 'asg.process-suspended',
        message: `${group.name} has ${needed} suspended; the swaps launch and terminate through the group`,
        hint: `aws autoscaling resume-processes --auto-scaling-group-name ${group.name} --scaling-processes ${needed}`,
      });
    }
  }
  return problems;
}

export interface RestorePlan {
  /** false: the group holds a swap in flight; nothing is restored now (the message says why). */
  safe: boolean;
  message: string;
  sizes?: { MinSize: number; MaxSize: number; DesiredCapacity: number };
  resume: string[];
  unprotect: string[];
}

/**
 * Restoring the recorded sizes and resuming AZRebalance or ReplaceUnhealthy while the group holds one machine
 * more (or less) than recorded would let Auto Scaling terminate (or launch) a control-plane machine itself, with
 * no drain and no etcd member removal: only a group back at its recorded capacity is restored; otherwise the
 * re-run that finishes the swap restores it.
 */
export function restorePlan(
  baseline: GroupBaseline,
  group: GroupFacts,
  /** The run (or runs: one abandoned, then the one that restores) whose launches the group protected. */
  runId: string | readonly string[],
  tagged: Map<string, string>,
): RestorePlan {
  const runs: readonly string[] = typeof runId === 'string' ? [runId] : runId;
  const live = group.instances.filter((i) => !isLeaving(i));
  if (live.length !== baseline.desiredCapacity) {
    return {
      safe: false,
      message: `${group.name} holds ${live.length} instance(s), recorded ${baseline.desiredCapacity}: processes stay suspended and sizes as they are until a re-run finishes the swap in flight`,
      resume: [],
      unprotect: [],
    };
  }
  const sizes = { MinSize: baseline.minSize, MaxSize: baseline.maxSize, DesiredCapacity: baseline.desiredCapacity };
  const resume = runSuspends(baseline).filter((p) => group.suspended.includes(p));
  const unprotect = baseline.newInstancesProtected
    ? []
    : live.filter((i) => i.protected && runs.includes(tagged.get(i.id) ?? '')).map((i) => i.id);
  const sizesChanged =
    group.minSize !== sizes.MinSize ||
    group.maxSize !== sizes.MaxSize ||
    group.desiredCapacity !== sizes.DesiredCapacity;
  return {
    safe: true,
    message: `${group.name} restored: min ${sizes.MinSize} max ${sizes.MaxSize} desired ${sizes.DesiredCapacity}, resumed [${resume.join(', ')}], kept the user's [${baseline.userSuspended.join(', ')}], protection removed from ${unprotect.length} instance(s)`,
    ...(sizesChanged ? { sizes } : {}),
    resume,
    unprotect,
  };
}
