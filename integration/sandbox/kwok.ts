// kwok plays the kubelets: it keeps the sandbox's Nodes Ready (lease heartbeats) and runs pods bound to them. It
// manages only Nodes carrying the kwok annotation, so removing it is how a machine's kubelet "dies".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KWOK_ANNOTATION } from './nodes.ts';
import { allocatePort } from './processes.ts';
import type { Runtime } from './runtime.ts';

/** Stages shipped in the kwok module: the ones kwokctl configures by default. */
const STAGES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
];

/**
 * Pods carrying this annotation go away only at their deletionTimestamp, that is after their grace period (the
 * apiserver sets deletionTimestamp = now + terminationGracePeriodSeconds when a bound pod is deleted or evicted), as
 * a kubelet running a preStop hook or a slow shutdown would: the drain time of a node's pods at a chosen scale.
 * Every other pod goes at once (kwok's fast pod-delete stage), so the scenarios stay fast.
 */
export const GRACEFUL_POD_ANNOTATION = 'sandbox.kubeswap.io/honour-grace-period';

const POD_DELETE_STAGES = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.annotations["${GRACEFUL_POD_ANNOTATION}"]'
      operator: 'DoesNotExist'
  next:
    delete: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete-graceful
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.annotations["${GRACEFUL_POD_ANNOTATION}"]'
      operator: 'Exists'
  delay:
    durationMilliseconds: 0
    durationFrom:
      expressionFrom: '.metadata.deletionTimestamp'
  next:
    delete: true
`;

export async function startKwok(rt: Runtime, kubeconfig: string): Promise<void> {
  const podDelete = join(rt.stateDir, 'kwok-pod-delete.yaml');
  writeFileSync(podDelete, POD_DELETE_STAGES);
  const stages = [...STAGES.map((s) => join(rt.plan.binaries.kwokModuleDir, s)), podDelete].flatMap((f) => ['-c', f]);
  rt.processes.start('kwok', join(rt.plan.binaries.kwokDir, 'kwok'), [
    `--kubeconfig=${kubeconfig}`,
    '--manage-all-nodes=false',
    `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
    '--node-lease-duration-seconds=40',
    `--server-address=127.0.0.1:${await allocatePort()}`,
    ...stages,
  ]);
}
