// `sandbox up --provider cluster-api --capi-workers N`: a worker MachineDeployment whose Machines are real Cluster
// API Machines: the MachineDeployment and MachineSet controllers create them, CABPK renders their worker join from a
// KubeadmConfigTemplate (cloud-init with `kubeadm join`, no controlPlane section), and the sandbox infrastructure
// provider boots each SandboxMachine (from a SandboxMachineTemplate without an image: the sandbox image of the
// Machine's spec.version, as CAPA looks an AMI up by Kubernetes version) as a moto instance that the simulator joins
// as a worker Node (kwok keeps it Ready). The MachineDeployment creates its initial Machines at start-up: nothing is
// adopted, so every worker the scenarios see went through the real controllers.
import * as k8s from '@kubernetes/client-node';
import { BOOTSTRAP_GROUP, CAPI_NAMESPACE, NODE_NAME_TEMPLATE } from './capi-adopt.ts';
import { parseUserData } from './join.ts';
import { clusterFacts } from './join-facts.ts';
import { joinRefusals } from './join-preflight.ts';
import { waitFor } from './processes.ts';
import type { Runtime } from './runtime.ts';
import { CAPI_GROUP, CAPI_VERSION, CLUSTER_NAME_LABEL, INFRA_GROUP, INFRA_VERSION } from './sandbox-infra.ts';

export const DEPLOYMENT_NAME_LABEL = 'cluster.x-k8s.io/deployment-name';
export const machineDeploymentNameOf = (clusterName: string) => `${clusterName}-md-0`;

export async function startClusterApiWorkers(rt: Runtime, kubeconfig: string, replicas: number): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const cluster = rt.plan.clusterName;
  const name = machineDeploymentNameOf(cluster);
  const ns = CAPI_NAMESPACE;
  const labels = { [CLUSTER_NAME_LABEL]: cluster };
  const create = (group: string, version: string, plural: string, body: object) =>
    custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  // No Cluster API webhooks run in the sandbox (CLUSTER-API.md): every field they would default is given here.
  await create(BOOTSTRAP_GROUP, CAPI_VERSION, 'kubeadmconfigtemplates', {
    apiVersion: `${BOOTSTRAP_GROUP}/${CAPI_VERSION}`,
    kind: 'KubeadmConfigTemplate',
    metadata: { name, labels },
    spec: { template: { spec: { joinConfiguration: { nodeRegistration: { name: NODE_NAME_TEMPLATE } } } } },
  });
  await create(INFRA_GROUP, INFRA_VERSION, 'sandboxmachinetemplates', {
    apiVersion: `${INFRA_GROUP}/${INFRA_VERSION}`,
    kind: 'SandboxMachineTemplate',
    metadata: { name, labels },
    spec: { template: { spec: { instanceType: 't3.medium' } } },
  });
  const selector = { ...labels, [DEPLOYMENT_NAME_LABEL]: name };
  await create(CAPI_GROUP, CAPI_VERSION, 'machinedeployments', {
    apiVersion: `${CAPI_GROUP}/${CAPI_VERSION}`,
    kind: 'MachineDeployment',
    metadata: { name, labels },
    spec: {
      clusterName: cluster,
      replicas,
      selector: { matchLabels: selector },
      rollout: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } },
      template: {
        metadata: { labels: selector },
        spec: {
          clusterName: cluster,
          version: rt.plan.versions.from,
          bootstrap: { configRef: { apiGroup: BOOTSTRAP_GROUP, kind: 'KubeadmConfigTemplate', name } },
          infrastructureRef: { apiGroup: INFRA_GROUP, kind: 'SandboxMachineTemplate', name },
        },
      },
    },
  });
  await waitFor(
    `the ${replicas} Machines of MachineDeployment ${name} to get nodeRefs`,
    async () => {
      const list = (await custom.listNamespacedCustomObject({
        group: CAPI_GROUP,
        version: CAPI_VERSION,
        namespace: ns,
        plural: 'machines',
        labelSelector: `${DEPLOYMENT_NAME_LABEL}=${name}`,
      })) as { items: { status?: { nodeRef?: { name?: string } } }[] };
      return list.items.filter((m) => m.status?.nodeRef?.name).length >= replicas ? true : undefined;
    },
    180_000,
    1000,
  );
  rt.log(`cluster-api: MachineDeployment ${name}: ${replicas} worker Machines joined`);
}

/**
 * What kubeadm join would refuse in a worker's cloud-init rendered by CABPK: the join configuration must be a worker
 * join whose bootstrap token and CA pin are the cluster's, for a kubelet within skew (the control-plane join's checks,
 * join-preflight.ts). Empty: the worker joins.
 */
export async function workerJoinRefusals(rt: Runtime, raw: string, version: string): Promise<string[]> {
  const intent = parseUserData(raw);
  if (intent.kind !== 'join') return ['the user data holds no kubeadm join configuration'];
  if (intent.request.controlPlane) return ['a control-plane join on a worker machine'];
  const facts = await clusterFacts(rt, intent.request, version, false);
  return joinRefusals(intent.request, facts);
}
