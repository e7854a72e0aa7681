// kwok plays the kubelets: it keeps the sandbox's Nodes Ready (lease heartbeats) and runs pods bound to them. It
// manages only Nodes carrying the kwok annotation, so removing it is how a machine's kubelet "dies".
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
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

export async function startKwok(rt: Runtime, kubeconfig: string): Promise<void> {
  const stages = STAGES.flatMap((s) => ['-c', join(rt.plan.binaries.kwokModuleDir, s)]);
  rt.processes.start('kwok', join(rt.plan.binaries.kwokDir, 'kwok'), [
    `--kubeconfig=${kubeconfig}`,
    '--manage-all-nodes=false',
    `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
    '--node-lease-duration-seconds=40',
    `--server-address=127.0.0.1:${await allocatePort()}`,
    ...stages,
  ]);
}
