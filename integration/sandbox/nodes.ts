// What a control-plane machine's kubelet would publish: its Node (registered like the kubelet does, kept Ready by
// kwok) and the mirror pods of its static pods, carrying the annotations kubeadm reads endpoints from.
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';

export const KWOK_ANNOTATION = 'kwok.x-k8s.io/node';
export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';
export const APISERVER_ENDPOINT_ANNOTATION = 'kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint';
export const ETCD_URLS_ANNOTATION = 'kubeadm.kubernetes.io/etcd.advertise-client-urls';
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export interface MachineIdentity {
  node: string;
  instanceId: string;
  az: string;
  privateIp: string;
  instanceType: string;
  version: string;
  controlPlane: boolean;
}

export function nodeObject(m: MachineIdentity, etcdVersion: string): k8s.V1Node {
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': m.node,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'node.kubernetes.io/instance-type': m.instanceType,
    'topology.kubernetes.io/region': m.az.slice(0, -1),
    'topology.kubernetes.io/zone': m.az,
  };
  // kubeadm's mark-control-plane sets these on the initial machines; joins get them the same way.
  if (m.controlPlane) {
    labels[CONTROL_PLANE_LABEL] = '';
    labels['node.kubernetes.io/exclude-from-external-load-balancers'] = '';
  }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: m.node,
      labels,
      annotations: {
        [KWOK_ANNOTATION]: 'fake',
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: {
      providerID: `aws:///${m.az}/${m.instanceId}`,
      taints: m.controlPlane ? [{ key: CONTROL_PLANE_LABEL, effect: 'NoSchedule' }] : [],
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: m.privateIp },
        { type: 'Hostname', address: m.node },
      ],
      nodeInfo: {
        architecture: 'amd64',
        bootID: m.instanceId,
        containerRuntimeVersion: `containerd://1.7.27`,
        kernelVersion: '6.1.0-sandbox',
        kubeProxyVersion: m.version,
        kubeletVersion: m.version,
        machineID: m.instanceId,
        operatingSystem: 'linux',
        osImage: `kubeswap sandbox node ${m.version} (etcd ${etcdVersion})`,
        systemUUID: m.instanceId,
      },
    },
  };
}

export interface StaticPodEndpoints {
  apiServerPort: number;
  etcdClientUrl: string;
  etcdVersion: string;
}

/** Mirror pods of the four kubeadm static pods, owned by the Node like the kubelet makes them. */
export function mirrorPods(m: MachineIdentity, node: k8s.V1Node, ep: StaticPodEndpoints): k8s.V1Pod[] {
  const components: { name: string; image: string; annotations: Record<string, string> }[] = [
    {
      name: 'etcd',
      image: `registry.k8s.io/etcd:${ep.etcdVersion.replace(/^v/, '')}-0`,
      annotations: { [ETCD_URLS_ANNOTATION]: ep.etcdClientUrl },
    },
    {
      name: 'kube-apiserver',
      image: `registry.k8s.io/kube-apiserver:${m.version}`,
      annotations: { [APISERVER_ENDPOINT_ANNOTATION]: `127.0.0.1:${ep.apiServerPort}` },
    },
    { name: 'kube-controller-manager', image: `registry.k8s.io/kube-controller-manager:${m.version}`, annotations: {} },
    { name: 'kube-scheduler', image: `registry.k8s.io/kube-scheduler:${m.version}`, annotations: {} },
  ];
  return components.map((c) => {
    const hash = createHash('md5').update(`${m.node}/${c.name}/${c.image}`).digest('hex');
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${c.name}-${m.node}`,
        namespace: 'kube-system',
        labels: { component: c.name, tier: 'control-plane' },
        annotations: {
          ...c.annotations,
          [MIRROR_ANNOTATION]: hash,
          'kubernetes.io/config.hash': hash,
          'kubernetes.io/config.source': 'file',
        },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: m.node, uid: node.metadata!.uid!, controller: true }],
      },
      spec: {
        nodeName: m.node,
        hostNetwork: true,
        priorityClassName: 'system-node-critical',
        priority: 2000001000,
        tolerations: [{ operator: 'Exists', effect: 'NoExecute' }],
        containers: [{ name: c.name, image: c.image, command: [c.name] }],
      },
    };
  });
}

const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/**
 * The kubelet registering its Node, then its static pods' mirrors. Safe to repeat after a failure part-way, as the
 * kubelet's registration is (an existing Node or mirror pod is taken as it is).
 */
export async function registerMachine(core: k8s.CoreV1Api, m: MachineIdentity, ep: StaticPodEndpoints): Promise<void> {
  const exists = (err: unknown) => (err as { code?: unknown }).code === 409;
  const node = await core.createNode({ body: nodeObject(m, ep.etcdVersion) }).catch((err: unknown) => {
    if (exists(err)) return core.readNode({ name: m.node });
    throw err;
  });
  if (!m.controlPlane) return;
  for (const pod of mirrorPods(m, node, ep)) {
    await core.createNamespacedPod({ namespace: 'kube-system', body: pod }).catch((err: unknown) => {
      if (!exists(err)) throw err;
    });
  }
}

/**
 * A dead kubelet: kwok stops heartbeating the Node and its Ready condition goes Unknown, as the node controller sets it.
 * kwok selects its Nodes by annotation from its own watch, so for a moment after the annotation is gone it can still
 * take the Node for one of its own, and its node-initialize stage (Ready not True -> True) undoes the Unknown: seen on
 * a loaded machine. So the condition is written again until two reads in a row, `settleMs` apart, find it not True.
 */
export async function markNodeDead(core: k8s.CoreV1Api, node: string, settleMs = 1000): Promise<void> {
  try {
    await markUntilSettled(core, node, settleMs);
  } catch (err) {
    // The Node is gone (kubeswap deletes a retired machine's Node): nothing left to mark.
    if ((err as { code?: unknown }).code !== 404) throw err;
  }
}

async function markUntilSettled(core: k8s.CoreV1Api, node: string, settleMs: number): Promise<void> {
  await core.patchNode({ name: node, body: { metadata: { annotations: { [KWOK_ANNOTATION]: null } } } }, merge);
  for (let quiet = 0, writes = 0; quiet < 2; ) {
    const current = await core.readNode({ name: node });
    if (current.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True') {
      if (++writes > 20) throw new Error(`Node ${node} keeps going back to Ready`);
      await patchReadyUnknown(core, node);
      quiet = 0;
    } else quiet++;
    if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, settleMs));
  }
}

async function patchReadyUnknown(core: k8s.CoreV1Api, node: string): Promise<void> {
  const now = new Date().toISOString();
  await core.patchNodeStatus(
    {
      name: node,
      body: {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'Unknown',
              reason: 'NodeStatusUnknown',
              message: 'Kubelet stopped posting node status.',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    strategic,
  );
}

/**
 * How the kubelet reports a static pod whose container keeps crashing (or is back). Conditional on the pod read (its
 * resourceVersion in the patch): a write given up while an API server held it cannot land after a later one
 * (pod-status.ts); it fails with a conflict instead. Nor is it sent once `live` says the attempt was given up.
 */
export async function setMirrorPodReady(
  core: k8s.CoreV1Api,
  pod: string,
  ready: boolean,
  live: () => boolean = () => true,
): Promise<void> {
  const now = new Date().toISOString();
  const status = ready ? 'True' : 'False';
  const current = await core.readNamespacedPod({ name: pod, namespace: 'kube-system' });
  if (!live()) throw new Error(`${pod}: status read answered after its attempt was given up; not written`);
  const container = current.spec!.containers[0]!;
  await core.patchNamespacedPodStatus(
    {
      name: pod,
      namespace: 'kube-system',
      body: {
        metadata: { resourceVersion: current.metadata!.resourceVersion },
        status: {
          phase: 'Running',
          conditions: [
            { type: 'Ready', status, lastTransitionTime: now },
            { type: 'ContainersReady', status, lastTransitionTime: now },
          ],
          containerStatuses: [
            {
              name: container.name,
              image: container.image,
              imageID: '',
              ready,
              restartCount: ready ? 0 : 1,
              state: ready
                ? { running: { startedAt: now } }
                : { waiting: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container' } },
            },
          ],
        },
      },
    },
    strategic,
  );
}

/**
 * kwok marks a mirror pod Ready (its pod-ready stage) when it handles the pod's event while it already manages the
 * pod's Node. On a loaded machine its Node informer can lag the pod's creation: the event is passed over and, with
 * no further change to the pod, never handled again (seen: one etcd mirror pod Pending for 3 minutes while the
 * other eleven were Ready). A no-op annotation change is a new event; kwok then marks the pod as it should.
 * Returns the names of the pods nudged.
 */
export async function nudgeUnreportedPods(core: k8s.CoreV1Api, names: string[]): Promise<string[]> {
  const nudged: string[] = [];
  for (const name of names) {
    const pod = await core.readNamespacedPod({ name, namespace: 'kube-system' }).catch(() => undefined);
    // Only pods nobody reported yet (Pending); a crash report (Running, not Ready) is the kubelet's word.
    if (pod?.status?.phase !== 'Pending') continue;
    await core.patchNamespacedPod(
      {
        name,
        namespace: 'kube-system',
        body: { metadata: { annotations: { 'kubeswap-sandbox/nudged': new Date().toISOString() } } },
      },
      merge,
    );
    nudged.push(name);
  }
  return nudged;
}
