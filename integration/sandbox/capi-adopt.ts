// `--provider cluster-api`: the sandbox's initial control plane, already up, is adopted into Cluster API as a
// cluster whose control plane is a set of Machines (no KubeadmControlPlane), as users of cluster-api-upgrade-tool
// ran them: a Cluster + SandboxCluster, and per machine a Machine + SandboxMachine + KubeadmConfig with bootstrap
// done (dataSecretName set: CABPK then only marks the config ready, kubeadmconfig_controller.go "pivoting"
// case). The cluster certificates CABPK copies into a joining control-plane machine's cloud-init are Secrets made
// from the sandbox's kubeadm PKI, named and shaped as Cluster API's util/secret expects.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { renderJoinRecipe } from './join.ts';
import { waitFor } from './processes.ts';
import type { Machine, Runtime } from './runtime.ts';
import {
  CAPI_GROUP,
  CAPI_VERSION,
  CLUSTER_NAME_LABEL,
  CONTROL_PLANE_LABEL,
  INFRA_GROUP,
  INFRA_VERSION,
  providerIdOf,
} from './sandbox-infra.ts';

export const CAPI_NAMESPACE = 'default';
export const BOOTSTRAP_GROUP = 'bootstrap.cluster.x-k8s.io';
export const CONTROL_PLANE_GROUP = 'controlplane.cluster.x-k8s.io';
/** What CABPK's cloud-init tells kubeadm to name the node: cloud-init fills in the VM's hostname (as CAPA's templates). */
export const NODE_NAME_TEMPLATE = '{{ ds.meta_data.local_hostname }}';

export type ControlPlaneManagement = 'machines' | 'kubeadm-control-plane';

export const machineNameOf = (clusterName: string, index: number) => `${clusterName}-control-plane-${index}`;

/** Cluster API's util/secret purposes and the kubeadm PKI files they hold (tls.crt, tls.key). */
const CERT_SECRETS: [suffix: string, crt: string, key: string][] = [
  ['ca', 'ca.crt', 'ca.key'],
  ['etcd', 'etcd/ca.crt', 'etcd/ca.key'],
  ['sa', 'sa.pub', 'sa.key'],
  ['proxy', 'front-proxy-ca.crt', 'front-proxy-ca.key'],
];

export async function adoptControlPlane(
  rt: Runtime,
  kubeconfig: string,
  machines: Machine[],
  management: ControlPlaneManagement,
): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const cluster = rt.plan.clusterName;
  const ns = CAPI_NAMESPACE;
  const labels = { [CLUSTER_NAME_LABEL]: cluster };
  const create = (group: string, version: string, plural: string, body: object) =>
    ignoreExists(custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body }));
  const secret = (name: string, data: Record<string, string>, extraLabels: Record<string, string> = {}) =>
    ignoreExists(
      core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name, labels: { ...labels, ...extraLabels } },
          type: 'cluster.x-k8s.io/secret',
          data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        },
      }),
    );

  const pki = join(rt.stateDir, 'pki');
  for (const [suffix, crt, key] of CERT_SECRETS) {
    await secret(`${cluster}-${suffix}`, {
      'tls.crt': readFileSync(join(pki, crt), 'utf8'),
      'tls.key': readFileSync(join(pki, key), 'utf8'),
    });
  }
  // Cluster API reads the workload cluster through this Secret (ClusterCache); here it is the cluster itself.
  await secret(`${cluster}-kubeconfig`, { value: readFileSync(kubeconfig, 'utf8') });

  const endpoint = { host: '127.0.0.1', port: rt.loadBalancerPort };
  await create(INFRA_GROUP, INFRA_VERSION, 'sandboxclusters', {
    apiVersion: `${INFRA_GROUP}/${INFRA_VERSION}`,
    kind: 'SandboxCluster',
    metadata: { name: cluster, labels },
    spec: { controlPlaneEndpoint: endpoint },
  });
  const kcp = management === 'kubeadm-control-plane';
  await create(CAPI_GROUP, CAPI_VERSION, 'clusters', {
    apiVersion: `${CAPI_GROUP}/${CAPI_VERSION}`,
    kind: 'Cluster',
    metadata: { name: cluster, labels },
    spec: {
      controlPlaneEndpoint: endpoint,
      infrastructureRef: { apiGroup: INFRA_GROUP, kind: 'SandboxCluster', name: cluster },
    },
  });

  for (const [i, m] of machines.entries()) {
    const name = machineNameOf(cluster, i);
    // What the VM booted from (the launch template's recipe), as CABPK would have stored it: the Secret is named
    // after the KubeadmConfig, value + format.
    await secret(name, { value: renderJoinRecipe(cluster), format: 'cloud-config' });
    await create(BOOTSTRAP_GROUP, CAPI_VERSION, 'kubeadmconfigs', {
      apiVersion: `${BOOTSTRAP_GROUP}/${CAPI_VERSION}`,
      kind: 'KubeadmConfig',
      metadata: { name, labels: { ...labels, [CONTROL_PLANE_LABEL]: '' } },
      spec:
        i === 0
          ? { initConfiguration: { nodeRegistration: { name: NODE_NAME_TEMPLATE } } }
          : { joinConfiguration: { controlPlane: {}, nodeRegistration: { name: NODE_NAME_TEMPLATE } } },
    });
    await create(INFRA_GROUP, INFRA_VERSION, 'sandboxmachines', {
      apiVersion: `${INFRA_GROUP}/${INFRA_VERSION}`,
      kind: 'SandboxMachine',
      metadata: { name, labels: { ...labels, [CONTROL_PLANE_LABEL]: '' } },
      spec: { providerID: providerIdOf(m.az, m.instanceId), image: rt.topology.images[m.version] },
    });
    await create(CAPI_GROUP, CAPI_VERSION, 'machines', {
      apiVersion: `${CAPI_GROUP}/${CAPI_VERSION}`,
      kind: 'Machine',
      metadata: { name, labels: { ...labels, [CONTROL_PLANE_LABEL]: '' } },
      spec: {
        clusterName: cluster,
        version: m.version,
        providerID: providerIdOf(m.az, m.instanceId),
        failureDomain: m.az,
        bootstrap: { configRef: { apiGroup: BOOTSTRAP_GROUP, kind: 'KubeadmConfig', name }, dataSecretName: name },
        infrastructureRef: { apiGroup: INFRA_GROUP, kind: 'SandboxMachine', name },
      },
    });
  }
  if (kcp) {
    await addKubeadmControlPlaneOwner({
      kubeconfig,
      clusterName: cluster,
      version: rt.plan.versions.from,
      image: rt.topology.images[rt.plan.versions.from]!,
      replicas: machines.length,
    });
  }
  rt.log(
    `cluster-api: adopted ${machines.length} control-plane machines into Cluster ${ns}/${cluster}${kcp ? ' (KubeadmControlPlane-owned)' : ''}`,
  );
}

/** Waits until the core controller has linked every adopted Machine to its Node (status.nodeRef). */
export async function waitForNodeRefs(
  kubeconfig: string,
  clusterName: string,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await waitFor(
    `the ${count} adopted Machines to get nodeRefs`,
    async () => {
      const list = (await custom.listNamespacedCustomObject({
        group: CAPI_GROUP,
        version: CAPI_VERSION,
        namespace: CAPI_NAMESPACE,
        plural: 'machines',
        labelSelector: `${CLUSTER_NAME_LABEL}=${clusterName}`,
      })) as { items: { status?: { nodeRef?: { name?: string } } }[] };
      return list.items.filter((m) => m.status?.nodeRef?.name).length >= count ? true : undefined;
    },
    timeoutMs,
    1000,
  );
}

/** What addKubeadmControlPlaneOwner needs: the management cluster and the cluster whose Machines it takes over. */
export interface KcpOwnerTarget {
  kubeconfig: string;
  clusterName: string;
  namespace?: string;
  version: string;
  /** The sandbox image its SandboxMachineTemplate names. */
  image: string;
  replicas: number;
}

export const kcpNameOf = (clusterName: string) => `${clusterName}-control-plane`;

/**
 * The "KCP-managed" variant, also for a scenario on a running sandbox: a KubeadmControlPlane (with a
 * SandboxMachineTemplate) becomes the controller owner of the control-plane Machines and the Cluster's
 * `controlPlaneRef` names it. No KCP controller runs (kubeswap must refuse such a cluster, not race KCP); its status
 * says initialized, as a running KCP would have set it, so the core controller keeps the control plane up.
 */
export async function addKubeadmControlPlaneOwner(t: KcpOwnerTarget): Promise<void> {
  const { custom, ns, name, machines } = await kcpContext(t);
  const labels = { [CLUSTER_NAME_LABEL]: t.clusterName };
  const create = (group: string, version: string, plural: string, body: object) =>
    ignoreExists(custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body }));
  await create(INFRA_GROUP, INFRA_VERSION, 'sandboxmachinetemplates', {
    apiVersion: `${INFRA_GROUP}/${INFRA_VERSION}`,
    kind: 'SandboxMachineTemplate',
    metadata: { name, labels },
    spec: { template: { spec: { image: t.image } } },
  });
  await create(CONTROL_PLANE_GROUP, CAPI_VERSION, 'kubeadmcontrolplanes', {
    apiVersion: `${CONTROL_PLANE_GROUP}/${CAPI_VERSION}`,
    kind: 'KubeadmControlPlane',
    metadata: { name, labels },
    spec: {
      replicas: t.replicas,
      version: t.version,
      machineTemplate: { spec: { infrastructureRef: { apiGroup: INFRA_GROUP, kind: 'SandboxMachineTemplate', name } } },
      // The CRD wants at least one property; what a KCP-built control-plane machine would join with.
      kubeadmConfigSpec: { joinConfiguration: { nodeRegistration: { name: NODE_NAME_TEMPLATE } } },
    },
  });
  const kcp = (await custom.getNamespacedCustomObject({ ...kcpRef(ns), name })) as { metadata: { uid: string } };
  await custom.patchNamespacedCustomObjectStatus(
    { ...kcpRef(ns), name, body: { status: { initialization: { controlPlaneInitialized: true } } } },
    merge,
  );
  await custom.patchNamespacedCustomObject(
    {
      ...capiRef(ns, 'clusters'),
      name: t.clusterName,
      body: { spec: { controlPlaneRef: { apiGroup: CONTROL_PLANE_GROUP, kind: 'KubeadmControlPlane', name } } },
    },
    merge,
  );
  const owner: k8s.V1OwnerReference = {
    apiVersion: `${CONTROL_PLANE_GROUP}/${CAPI_VERSION}`,
    kind: 'KubeadmControlPlane',
    name,
    uid: kcp.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  for (const m of machines) {
    const others = (m.metadata.ownerReferences ?? []).filter((o) => o.kind !== 'KubeadmControlPlane');
    await custom.patchNamespacedCustomObject(
      {
        ...capiRef(ns, 'machines'),
        name: m.metadata.name!,
        body: { metadata: { ownerReferences: [...others, owner], labels: { [KCP_NAME_LABEL]: name } } },
      },
      merge,
    );
  }
}

/** Undoes addKubeadmControlPlaneOwner: the Machines are released first, so deleting the KCP garbage-collects none. */
export async function removeKubeadmControlPlaneOwner(t: KcpOwnerTarget): Promise<void> {
  const { custom, ns, name, machines } = await kcpContext(t);
  for (const m of machines) {
    const others = (m.metadata.ownerReferences ?? []).filter((o) => o.kind !== 'KubeadmControlPlane');
    await custom.patchNamespacedCustomObject(
      {
        ...capiRef(ns, 'machines'),
        name: m.metadata.name!,
        body: { metadata: { ownerReferences: others.length ? others : null, labels: { [KCP_NAME_LABEL]: null } } },
      },
      merge,
    );
  }
  await custom.patchNamespacedCustomObject(
    { ...capiRef(ns, 'clusters'), name: t.clusterName, body: { spec: { controlPlaneRef: null } } },
    merge,
  );
  await ignoreMissing(custom.deleteNamespacedCustomObject({ ...kcpRef(ns), name }));
  await ignoreMissing(
    custom.deleteNamespacedCustomObject({
      group: INFRA_GROUP,
      version: INFRA_VERSION,
      namespace: ns,
      plural: 'sandboxmachinetemplates',
      name,
    }),
  );
}

const KCP_NAME_LABEL = 'cluster.x-k8s.io/control-plane-name';
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const capiRef = (namespace: string, plural: string) => ({
  group: CAPI_GROUP,
  version: CAPI_VERSION,
  namespace,
  plural,
});
const kcpRef = (namespace: string) => ({
  group: CONTROL_PLANE_GROUP,
  version: CAPI_VERSION,
  namespace,
  plural: 'kubeadmcontrolplanes',
});

async function kcpContext(t: KcpOwnerTarget) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(t.kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const ns = t.namespace ?? CAPI_NAMESPACE;
  const list = (await custom.listNamespacedCustomObject({
    ...capiRef(ns, 'machines'),
    labelSelector: `${CLUSTER_NAME_LABEL}=${t.clusterName},${CONTROL_PLANE_LABEL}`,
  })) as { items: { metadata: k8s.V1ObjectMeta }[] };
  return { custom, ns, name: kcpNameOf(t.clusterName), machines: list.items };
}

async function ignoreMissing<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

async function ignoreExists<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if ((err as { code?: number }).code === 409) return undefined;
    throw err;
  }
}
