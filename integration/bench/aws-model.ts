// `npm run bench -- --model aws` (issue 15 §1): the sandbox plays AWS's own waits at a fifth of their real length,
// and the benchmark compares kubeswap's total with the critical path a safe upgrade cannot beat.
//
// The waits of one swap, in the order the engine meets them:
//   boot+join    the replacement boots (the model's boot delay) and joins (kubeadm join, etcd learner, promotion):
//                measured, from replacement.created to Ready-and-voting seen by the benchmark's own watch;
//   gate         N consecutive healthy passes a poll interval apart: (N-1) x poll, after the join and before each swap;
//   deregister   the target group's deregistration delay (ELBv2 keeps the target draining that long);
//   drain        the old Node's pods leave (their grace period, honoured by the sandbox's kwok);
//   terminate    EC2 keeps the old instance shutting-down before it is terminated.
// Sum in sequence: every wait one after the other (kubeswap before the overlaps). Critical path with the safe
// overlaps: the drain runs inside the deregistration delay (max of both), and the next swap's gate inside the old
// VM's termination (max of both); nothing else may overlap (a swap's join needs the previous swap's machine gone,
// its member removal needs the target drained).
import * as k8s from '@kubernetes/client-node';
import type { KubeswapEvent } from '../../src/domain/events.ts';
import type { Sandbox, UpOptions } from '../sandbox/index.ts';
import { GRACEFUL_POD_ANNOTATION } from '../sandbox/kwok.ts';

export interface TimingModel {
  bootSeconds: number;
  deregistrationSeconds: number;
  terminationSeconds: number;
  drainSeconds: number;
}

/**
 * Real AWS figures divided by five: an instance boots and joins in about 3 minutes, the target group's default
 * deregistration delay is 300 s, an instance takes about a minute to terminate, a pod ~25 s to stop.
 */
export const MODELS: Record<string, TimingModel> = {
  aws: { bootSeconds: 36, deregistrationSeconds: 60, terminationSeconds: 12, drainSeconds: 5 },
};

/** What the sandbox needs to play the model. */
export function sandboxOptionsFor(model: TimingModel): Partial<UpOptions> {
  return {
    bootDelaySeconds: model.bootSeconds,
    deregistrationDelaySeconds: model.deregistrationSeconds,
    terminationDelaySeconds: model.terminationSeconds,
    targetDraining: true,
  };
}

/** One pod on each control-plane Node that takes the model's drain time to stop once evicted. */
export async function placeDrainPods(sb: Sandbox, model: TimingModel): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sb.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const nodes = (await core.listNode({ labelSelector: 'node-role.kubernetes.io/control-plane' })).items;
  if (nodes.length === 0) throw new Error('no control-plane Node to place the drain pods on');
  for (const node of nodes) {
    const name = node.metadata!.name!;
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: `slow-stop-${name}`, annotations: { [GRACEFUL_POD_ANNOTATION]: 'true' } },
        spec: {
          nodeName: name,
          terminationGracePeriodSeconds: model.drainSeconds,
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    });
  }
}

/** Prints the model's figures: total, sum of the waits in sequence, critical path with the safe overlaps. */
export function reportModel(
  model: TimingModel,
  events: KubeswapEvent[],
  readyAt: Map<string, number>,
  totalMs: number,
  gatePasses: number,
  pollMs: number,
): { sequence: number; critical: number; span: number } {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const gate = ((gatePasses - 1) * pollMs) / 1000;
  const created = events.filter((e) => e.code === 'replacement.created');
  let sequence = 0;
  let critical = 0;
  console.log(
    `\nmodel: boot ${model.bootSeconds} s, deregistration ${model.deregistrationSeconds} s, termination ${model.terminationSeconds} s, drain ${model.drainSeconds} s; gate (N-1) x poll = ${gate.toFixed(1)} s`,
  );
  for (const [i, c] of created.entries()) {
    const from = events.indexOf(c);
    const ready = readyAt.get(String(c.data?.['replacement']));
    const join = ready !== undefined ? (ready - t(c)) / 1000 : Number.NaN;
    const after = (test: (e: KubeswapEvent) => boolean) => events.find((e, j) => j > from && test(e));
    const window = (start?: KubeswapEvent, end?: KubeswapEvent) =>
      start && end ? ((t(end) - t(start)) / 1000).toFixed(1) : 'n/a';
    const stepOf = (kind: string) => after((e) => e.code === 'plan.step' && e.data?.['step'] === kind);
    const deregStart = stepOf('deregister-target');
    const last = i === created.length - 1;
    // Before each swap the gate holds anew: in sequence it follows the termination, with the overlap it runs inside it.
    const preGate = i === 0 ? gate : 0;
    const nextGate = last ? 0 : gate;
    sequence +=
      preGate + join + gate + model.deregistrationSeconds + model.drainSeconds + model.terminationSeconds + nextGate;
    critical +=
      preGate +
      join +
      gate +
      Math.max(model.deregistrationSeconds, model.drainSeconds) +
      Math.max(model.terminationSeconds, nextGate);
    console.log(
      `  swap ${i + 1}: boot+join ${join.toFixed(1)} s; measured windows: deregister ${window(
        deregStart,
        after((e) => e.code === 'target.deregistered'),
      )} s, drain ${window(
        after((e) => e.code === 'node.drain-started'),
        after((e) => e.code === 'node.drained'),
      )} s, terminate ${window(
        stepOf('terminate'),
        after((e) => e.code === 'node.deleted'),
      )} s (to its Node's deletion)`,
    );
  }
  const firstStep = events.find((e) => e.code === 'plan.step' && e.data?.['step'] === 'create-replacement');
  const lastSwap = events.findLast((e) => e.code === 'swap.finished');
  // The swaps' span: from the gate before the first swap (it holds while the run starts) to the last swap's end.
  const span = firstStep && lastSwap ? (t(lastSwap) - t(firstStep)) / 1000 + gate : Number.NaN;
  const total = totalMs / 1000;
  console.log('\nmodel summary:');
  console.log(
    `  tool total (whole apply)      ${total.toFixed(1)} s (preflight, snapshot, addons and verification included)`,
  );
  console.log(`  swaps (first gate to last)    ${span.toFixed(1)} s`);
  console.log(`  sum of the waits in sequence  ${sequence.toFixed(1)} s`);
  console.log(`  critical path (safe overlaps) ${critical.toFixed(1)} s`);
  console.log(`  total / critical path         ${(total / critical).toFixed(3)}`);
  console.log(`  swaps / critical path         ${(span / critical).toFixed(3)}`);
  return { sequence, critical, span };
}
