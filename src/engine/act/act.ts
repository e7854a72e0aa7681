// Executes exactly one planned step. Every step first asks "already done?" (inside the port calls:
// removing a gone member, terminating a terminated VM and deleting a gone Node all succeed), so a
// re-run after a crash at any point simply repeats the step it was in.
import { createHash } from 'node:crypto';
import { formatDuration } from '../../domain/clock.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { EventCode } from '../../domain/events.ts';
import type { Desired } from '../../domain/model.ts';
import type { PodOnNode } from '../../ports/kube.ts';
import type { ProviderWait } from '../../ports/machines.ts';
import {
  DRAINED_ANNOTATION,
  RETIRING_ANNOTATION,
  SCALE_DOWN_DISABLED_ANNOTATION,
  SCALE_DOWN_WAS_ANNOTATION,
  TERMINATING_ANNOTATION,
  WAS_CORDONED_ANNOTATION,
} from '../plan/annotations.ts';
import { hex } from '../plan/gate.ts';
import type { Step } from '../plan/steps.ts';
import type { EngineOptions, Ports } from '../ports.ts';
import { clearRetiring, writeRetiring } from '../run/retiring.ts';
import { drainNode } from './drain.ts';

/** Where the addons kubeswap rolls after the control plane (kube-proxy) live: the namespace of the pods it releases. */
const DAEMON_NAMESPACE = 'kube-system';

export interface RunContext {
  runId: string;
  desired: Desired;
  options: EngineOptions;
  /** An earlier run of this upgrade already changed the cluster (a resumed run): a refusal is exit 4, not 2. */
  changedBefore?: boolean;
  /** User data for a replacement (render mode); undefined keeps the launch template's. */
  userDataFor?: (step: Extract<Step, { kind: 'create-replacement' }>) => Promise<string | undefined>;
  /**
   * The pods each drain of this process left on its Node (DaemonSet and mirror pods), as its last look found them:
   * releaseDaemonPods starts from that list instead of listing the Node's pods again.
   */
  drained?: Map<string, PodOnNode[]>;
}

/** RunInstances idempotency token: same run, machine and attempt -> same instance (<= 64 chars). */
export function replacementToken(runId: string, oldMachineId: string, attempt: number): string {
  const digest = createHash('sha256').update(`${runId}/${oldMachineId}/${attempt}`).digest('hex');
  return `kubeswap-${digest.slice(0, 48)}`;
}

/**
 * `signal`: the run's interrupt. The step's waits (a drain, the provider's deregistration, termination or launch) then
 * reject with its reason, leaving what they started to the re-run, which finds it half done and repeats the step.
 */
export async function act(
  step: Step,
  ports: Ports,
  ctx: RunContext,
  machine: string,
  signal?: AbortSignal,
): Promise<void> {
  const wait = signal ? { signal } : {};
  const emit = (code: EventCode, message: string, data?: Record<string, unknown>, level: 'info' | 'warn' = 'info') =>
    ports.emit({ code, at: ports.clock.now().toISOString(), level, message, machine, data });
  const nodeEvent = (node: string, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal') =>
    ports.kube.recordNodeEvent({ node, reason, message, type }).catch(() => undefined);

  switch (step.kind) {
    case 'create-replacement': {
      // A worker joins with its pool's launch template user data: render mode writes control-plane joins only.
      const userData = step.worker ? undefined : await ctx.userDataFor?.(step);
      const replacement = await createWithUnusedToken(step, userData, ports, ctx, emit, signal).catch(
        (err: unknown) => {
          // No capacity anywhere the old machine may move: nothing was created, the old one is untouched.
          if ((err as { code?: string }).code === 'capacity.insufficient') {
            throw new KubeswapError('rolled-back', 'replacement.no-capacity', (err as Error).message, {
              hint:
                (err as { hint?: string }).hint ?? 'retry later or choose another instance type in the launch template',
              cause: err,
            });
          }
          throw err;
        },
      );
      if (!step.oldRetired) {
        emit('swap.started', `replacing ${step.oldNode} (${step.old.id})`, {
          oldMachine: step.old.id,
          attempt: step.attempt,
        });
      }
      emit('replacement.created', `created replacement ${replacement.id} in ${replacement.zone}`, {
        replacement: replacement.id,
        imageId: replacement.imageId,
        zone: replacement.zone,
      });
      await nodeEvent(step.oldNode, 'ReplacementCreated', `kubeswap created ${replacement.id} to replace this machine`);
      return;
    }
    case 'begin-retirement':
      await writeRetiring(ports.kube, {
        runId: ctx.runId,
        node: step.oldNode,
        machine: step.old,
        startedAt: ports.clock.now().toISOString(),
      });
      emit('swap.started', `replacing ${step.oldNode} (${step.old.id}): removing it first (--max-surge 0)`, {
        oldMachine: step.old.id,
        maxSurge: 0,
      });
      await nodeEvent(step.oldNode, 'Retiring', 'kubeswap removes this machine before creating its replacement');
      return;
    case 'finish-retirement':
      await clearRetiring(ports.kube);
      emit('replacement.joined', `replacement ${step.replacement} of ${step.node} joined and serves`, {
        replacement: step.replacement,
      });
      return;
    case 'mark-retiring':
      // Cordoned in the same patch (issue 15 §2: one request, not two): the drain follows at once, and the annotation
      // says whether an operator had cordoned it before, which is what a rollback needs to put the cordon back.
      await ports.kube.annotateNode(
        step.node,
        { [RETIRING_ANNOTATION]: ctx.runId, [WAS_CORDONED_ANNOTATION]: step.wasCordoned ? 'true' : null },
        { unschedulable: true },
      );
      return;
    case 'register-target':
      await ports.provider.loadBalancer?.register(step.machineId);
      emit('target.registered', `registered ${step.node} (${step.machineId}) with the API target group`);
      return;
    case 'deregister-target': {
      const deregistered = (async () => {
        await ports.provider.loadBalancer?.deregister(step.machineId, ctx.options.deregisterTimeoutMs, wait);
        // Our own kept-alive connection may be one of those the load balancer let drain: start afresh
        // before this server loses its etcd member, instead of failing over after a broken request.
        ports.kube.reconnect?.();
        emit('target.deregistered', `deregistered ${step.node} (${step.machineId}); draining finished`);
      })();
      // The Node drains meanwhile (retirement.ts says why that is safe). Both are awaited whatever happens to
      // the other, so nothing of this step still runs when the loop plans the next one.
      const drained = step.drainNode
        ? drain(step.drainNode, ports, ctx, emit, nodeEvent, undefined, step.cordoned, signal)
        : Promise.resolve();
      const [a, b] = await Promise.allSettled([deregistered, drained]);
      if (a.status === 'rejected') throw a.reason;
      if (b.status === 'rejected') throw b.reason;
      return;
    }
    case 'drain':
      // The control plane's drain evicts everything but DaemonSet and mirror pods, as it always did.
      await drain(step.node, ports, ctx, emit, nodeEvent, undefined, step.cordoned, signal);
      return;
    case 'drain-worker':
      // Recorded before the cordon, with what a rollback puts back: the cordon an operator may have set and
      // cluster-autoscaler's own scale-down annotation (kept off this Node while it is replaced, as Cluster API's
      // MachineDeployment rollouts leave scale-down to the autoscaler only on settled Nodes).
      await ports.kube.annotateNode(step.node, {
        [RETIRING_ANNOTATION]: ctx.runId,
        [WAS_CORDONED_ANNOTATION]: step.wasCordoned ? 'true' : null,
        [SCALE_DOWN_DISABLED_ANNOTATION]: 'true',
        ...(step.scaleDownWas !== undefined ? { [SCALE_DOWN_WAS_ANNOTATION]: step.scaleDownWas } : {}),
      });
      await drain(step.node, ports, ctx, emit, nodeEvent, ctx.options.deleteEmptyDirData ?? false, undefined, signal);
      return;
    case 'bump-pool': {
      const pools = ports.provider.capabilities.rollsPools ? ports.provider.pools : undefined;
      if (!pools) {
        throw new KubeswapError(
          'internal',
          'provider.contract-mismatch',
          `provider ${ports.provider.name} has no pools sub-port to roll ${step.objectKind} ${step.name}`,
        );
      }
      await pools.bump(step.pool, step.name, ctx.desired, step.strategy);
      emit(
        'pool.rollout-started',
        `${step.objectKind} ${step.name} points at ${ctx.desired.version}; its own controller rolls the Machines`,
        { pool: step.pool, name: step.name, strategy: step.strategy },
      );
      return;
    }
    case 'start-deletion':
      if (!ports.provider.startDeletion) {
        throw new KubeswapError(
          'internal',
          'provider.contract-mismatch',
          `provider ${ports.provider.name} declares drainsOnDelete without startDeletion`,
        );
      }
      await ports.provider.startDeletion(step.machineId);
      emit(
        'machine.deletion-started',
        `started deleting ${step.machineId} (${step.node}); the provider drains the node`,
      );
      return;
    case 'move-leader':
      await ports.etcd.moveLeader(step.toId);
      emit('etcd.leader-moved', `moved etcd leadership from ${step.node} to member ${hex(step.toId)}`, {
        from: hex(step.fromId),
        to: hex(step.toId),
      });
      return;
    case 'remove-member':
      await ports.etcd.removeMember(step.member.id);
      emit('etcd.member-removed', `removed etcd member ${step.node} (${hex(step.member.id)})`, {
        member: hex(step.member.id),
      });
      return;
    case 'terminate':
      if (step.background && ports.provider.beginTermination) {
        // Recorded first: the planner bounds its wait for the machine's end by --termination-timeout from here.
        await ports.kube.annotateNode(step.node, { [TERMINATING_ANNOTATION]: ports.clock.now().toISOString() });
        await ports.provider.beginTermination(step.machineId);
        emit('machine.terminating', `started terminating ${step.machineId} (${step.node})`);
        return;
      }
      await ports.provider.terminate(step.machineId, ctx.options.terminateTimeoutMs, wait);
      emit('machine.terminated', `terminated ${step.machineId} (${step.node})`);
      // A provider that drains on delete deletes the Node itself, and only once the machine is gone: Cluster API
      // deletes the infrastructure machine, then the Node, then lets the Machine go (machine_controller.go
      // reconcileDelete). So no delete-node step of ours follows, and its DaemonSet pods wait for the garbage
      // collector as below; the machine is gone when terminate returns, so they are released here.
      if (ports.provider.capabilities.drainsOnDelete) {
        await releaseDaemonPods(step.node, ports, emit);
        // No delete-node step of ours follows: the drain's list (none: the provider drained) goes here.
        ctx.drained?.delete(step.node);
      }
      return;
    case 'delete-node':
      await ports.kube.deleteNode(step.node);
      emit('node.deleted', `deleted node ${step.node}`);
      if (step.machineGone) await releaseDaemonPods(step.node, ports, emit, ctx.drained);
      // The drain's last list is kept for this step only (released above, or the garbage collector's to do).
      ctx.drained?.delete(step.node);
      return;
    case 'rollback':
      // Never cut short by an interrupt: until the failed replacement's member is removed the cluster has one more
      // voter than it can lose (4 members, quorum 3), and the rollback waits out its target's deregistration first.
      await rollback(step, ports, ctx, emit, {});
      return;
    default:
      step satisfies never;
  }
}

/**
 * The DaemonSet pods of kube-system left bound to a Node just deleted (by us, or by the provider with its machine),
 * whose machine is gone: removed now rather than by the pod garbage collector, which waits 40 s for the Node to come
 * back and runs every 20 s (pkg/controller/podgc: quarantineTime, gcCheckPeriod). Until then the DaemonSet
 * controller counts that pod's node as unavailable in a rolling update (pkg/controller/daemon/update.go rollingUpdate:
 * a terminating pod leaves its node with no pod), which uses kube-proxy's whole maxUnavailable of 1: the addon rollout
 * after the control plane stood still for up to a minute. Only when the machine is gone (the delete-node step's
 * machineGone; a provider's terminate returned): nothing runs them any more, so nothing is lost; a failed or stopping
 * machine's pods are left to the garbage collector.
 * Best effort: a pod left behind only means the garbage collector's wait, never a failed run.
 */
async function releaseDaemonPods(
  node: string,
  ports: Ports,
  emit: (code: EventCode, message: string, data?: Record<string, unknown>, level?: 'info' | 'warn') => void,
  drained?: RunContext['drained'],
): Promise<void> {
  try {
    // The drain's last look at this Node, when this process drained it (issue 15 §2: the list again was a request per
    // swap): a DaemonSet pod is never evicted, so it is still there or was replaced (another uid, which the
    // precondition of forceDeletePod spares). One created on the cordoned Node after the drain is left to the garbage
    // collector, as is any pod when the list fails: that costs its minute, never a wrong deletion.
    const seen = drained?.get(node);
    drained?.delete(node);
    const left = (seen ?? (await ports.kube.podsOnNode(node))).filter(
      (p) => p.daemonSet && p.namespace === DAEMON_NAMESPACE,
    );
    const released: string[] = [];
    for (const pod of left)
      if ((await ports.kube.forceDeletePod(pod.namespace, pod.name, pod.uid)) === 'deleted') released.push(pod.name);
    if (released.length > 0)
      emit('node.pods-released', `removed ${released.length} DaemonSet pod(s) of deleted node ${node}`, {
        pods: released,
      });
  } catch (err) {
    emit(
      'node.pods-released',
      `left the DaemonSet pods of deleted node ${node} to the pod garbage collector (about a minute): ${(err as Error).message}`,
      undefined,
      'warn',
    );
  }
}

async function drain(
  node: string,
  ports: Ports,
  ctx: RunContext,
  emit: (code: EventCode, message: string, data?: Record<string, unknown>, level?: 'info' | 'warn') => void,
  nodeEvent: (node: string, reason: string, message: string) => Promise<unknown>,
  /** Worker drains: kubectl drain's refusals apply (DrainOptions.deleteEmptyDirData); undefined: none. */
  deleteEmptyDirData: boolean | undefined,
  /** The plan saw the Node cordoned already (DrainOptions.cordoned). */
  cordoned?: boolean,
  signal?: AbortSignal,
): Promise<void> {
  emit('node.drain-started', `cordoning and draining ${node}`);
  await nodeEvent(node, 'Draining', 'kubeswap is draining this node to replace its machine');
  const result = await drainNode(ports.kube, node, {
    timeoutMs: ctx.options.drainTimeoutMs,
    pollMs: Math.min(ctx.options.pollIntervalMs, 5000),
    clock: ports.clock,
    deleteEmptyDirData,
    ...(cordoned ? { cordoned } : {}),
    ...(signal ? { signal } : {}),
  });
  if (!result.ok) {
    const blockers = result.blocking.map((b) => `${b.pod}${b.pdbs.length ? ` (PDB ${b.pdbs.join(', ')})` : ''}`);
    emit(
      'node.drain-blocked',
      `drain of ${node} timed out; blocked: ${blockers.join(', ')}`,
      { blocking: result.blocking },
      'warn',
    );
    throw new KubeswapError(
      'needs-person',
      'node.drain-blocked',
      `drain of ${node} did not finish within ${formatDuration(ctx.options.drainTimeoutMs)}: ${blockers.join(', ')}`,
      {
        hint: `the replacement is serving and ${node} is cordoned; relax the PodDisruptionBudget(s) or move the pods, then re-run (or raise --drain-timeout)`,
      },
    );
  }
  if (result.refused.length > 0) {
    emit(
      'node.drain-blocked',
      `drain of ${node} cannot move: ${result.refused.map((r) => `${r.pod} (${r.why})`).join(', ')}`,
      { refused: result.refused },
      'warn',
    );
    throw new KubeswapError(
      'needs-person',
      'node.drain-refused',
      `drain of ${node} would lose data or pods: ${result.refused.map((r) => `${r.pod} (${r.why})`).join(', ')}`,
      {
        hint: `${node} is cordoned; move those pods (or give --delete-emptydir-data for emptyDir data), then re-run`,
      },
    );
  }
  await ports.kube.annotateNode(node, { [DRAINED_ANNOTATION]: ctx.runId });
  if (result.left) ctx.drained?.set(node, result.left);
  emit('node.drained', `drained ${node}`);
}

/**
 * AWS remembers a ClientToken for at least 24 hours, terminated instance or not, but lists a terminated instance
 * for only about an hour: the attempt number derived from the machines still listed can repeat a token whose
 * replacement is gone (or differs in user data). Such a token is skipped for the next attempt, deterministically,
 * so a re-run after a crash walks the same attempts and finds the one that is alive.
 */
async function createWithUnusedToken(
  step: Extract<Step, { kind: 'create-replacement' }>,
  userData: string | undefined,
  ports: Ports,
  ctx: RunContext,
  emit: (code: EventCode, message: string, data?: Record<string, unknown>) => void,
  signal: AbortSignal | undefined,
) {
  for (let attempt = step.attempt; ; attempt++) {
    try {
      return await ports.provider.createReplacement(
        {
          pool: step.old.pool,
          replaces: step.old,
          runId: ctx.runId,
          token: replacementToken(ctx.runId, step.old.id, attempt),
          desired: ctx.desired,
          userData,
          tags: { 'kubeswap.io/attempt': String(attempt) },
        },
        signal ? { signal } : {},
      );
    } catch (err) {
      if ((err as { code?: string }).code !== 'replacement.token-reused' || attempt >= step.attempt + MAX_TOKEN_SKIPS) {
        throw err;
      }
      emit(
        'wait',
        `attempt ${attempt} for ${step.oldNode} was used before (${(err as Error).message}); trying attempt ${attempt + 1}`,
        {
          reason: 'replacement.token-reused',
        },
      );
    }
  }
}

/** Past this many used attempts in a row something else is wrong: the error stands. */
const MAX_TOKEN_SKIPS = 20;

async function rollback(
  step: Extract<Step, { kind: 'rollback' }>,
  ports: Ports,
  ctx: RunContext,
  emit: (code: EventCode, message: string, data?: Record<string, unknown>, level?: 'info' | 'warn') => void,
  wait: ProviderWait,
): Promise<never> {
  const r = step.replacement;
  emit('replacement.failed', `replacement ${r.id} failed: ${step.reason}`, { replacement: r.id }, 'warn');
  // The old machine's retirement had begun: back into the load balancer, uncordoned unless an operator
  // had cordoned it, and no longer marked (a re-run starts its swap afresh). First, so that the API has it
  // back at once and a kill part-way leaves a replacement remnant the re-run's rollback still finds.
  const restore = step.restoreOld;
  if (restore) {
    if (restore.register && restore.machineId) await ports.provider.loadBalancer?.register(restore.machineId);
    if (restore.uncordon) await ports.kube.setUnschedulable(restore.node, false);
    await ports.kube.annotateNode(restore.node, {
      [RETIRING_ANNOTATION]: null,
      [WAS_CORDONED_ANNOTATION]: null,
      [DRAINED_ANNOTATION]: null,
      ...(restore.scaleDown
        ? { [SCALE_DOWN_DISABLED_ANNOTATION]: restore.scaleDown.value, [SCALE_DOWN_WAS_ANNOTATION]: null }
        : {}),
    });
  }
  if (step.registered) await ports.provider.loadBalancer?.deregister(r.id, ctx.options.deregisterTimeoutMs, wait);
  // Its member first: a learner or a fresh voter leaked by a failed join blocks every later join.
  for (const member of step.members) await ports.etcd.removeMember(member.id);
  await ports.provider.terminate(r.id, ctx.options.terminateTimeoutMs, wait);
  if (step.node) await ports.kube.deleteNode(step.node);
  const before = step.oldRetired
    ? `${step.oldNode} was already removed, so the control plane runs one machine short`
    : restore
      ? `${step.oldNode} put back as it was (API target, cordon)`
      : `${step.oldNode} untouched`;
  emit('replacement.rolled-back', `rolled back replacement ${r.id}; ${before}`, {
    replacement: r.id,
    removedMembers: step.members.map((m) => hex(m.id)),
    deletedNode: step.node,
  });
  const moveOn = `kubeswap abandon, then kubeswap apply --to ${ctx.desired.version} --image <fixed image> (with the same --config)`;
  throw new KubeswapError(
    'rolled-back',
    'replacement.rolled-back',
    `replacement ${r.id} for ${step.oldNode} failed and was rolled back: ${step.reason}`,
    {
      hint: step.oldRetired
        ? `the cluster is as it was before the replacement was created, one machine short; fix the cause (image, user data, capacity) and re-run: it creates a new replacement first. To move on with another image instead: ${moveOn}`
        : `the cluster is as it was before this swap; fix the cause (capacity, user data) and re-run the same command, or to move on with a fixed image: ${moveOn}`,
    },
  );
}
