// `sandbox up --provider cluster-api` against real components: the real Cluster API core manager and kubeadm
// bootstrap provider (CABPK) run against the sandbox, the initial control plane is adopted as Machines, and a new
// Machine is booted from the bootstrap data the real CABPK renders. One sandbox for every case.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import pRetry from 'p-retry';
import { parse, stringify } from 'yaml';
import {
  addKubeadmControlPlaneOwner,
  BOOTSTRAP_GROUP,
  CAPI_NAMESPACE,
  type KcpOwnerTarget,
  NODE_NAME_TEMPLATE,
  removeKubeadmControlPlaneOwner,
} from './capi-adopt.ts';
import { BOOTSTRAP_MANAGER, CORE_MANAGER } from './capi-managers.ts';
import { etcdClient, membersWithin } from './etcd.ts';
import { type Sandbox, upSandbox } from './index.ts';
import { isAlive, readPidFiles, sleep, waitFor } from './processes.ts';
import {
  CAPI_GROUP,
  CAPI_VERSION,
  CLUSTER_NAME_LABEL,
  CONTROL_PLANE_LABEL,
  INFRA_GROUP,
  INFRA_VERSION,
} from './sandbox-infra.ts';

const SETTLE_MS = 120_000;

/**
 * The test's own reads and writes of Cluster API objects, asked again while the API server answers 429 "storage is
 * (re)initializing" (its watch cache for the resource starting anew, as after a CRD is created or changed; seen once
 * in CI on the Machine list right after bring-up), with Retry-After 1: a client is meant to ask again, as client-go's
 * do (kubeswap's own client retries 429 too: src/adapters/kube/client.ts).
 */
const patient = <T>(call: () => Promise<T>): Promise<T> =>
  pRetry(call, {
    retries: 10,
    minTimeout: 1000,
    factor: 1,
    shouldRetry: ({ error }) => (error as { code?: number }).code === 429,
  });

describe('sandbox --provider cluster-api (real Cluster API controllers)', function () {
  this.timeout(600_000);
  let sb: Sandbox;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;

  const ns = CAPI_NAMESPACE;
  const get = (group: string, version: string, plural: string, name: string) =>
    patient(() => custom.getNamespacedCustomObject({ group, version, namespace: ns, plural, name }) as Promise<any>);
  const create = (group: string, version: string, plural: string, body: object) =>
    patient(() => custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body }));
  const machines = async () =>
    (
      (await patient(() =>
        custom.listNamespacedCustomObject({
          group: CAPI_GROUP,
          version: CAPI_VERSION,
          namespace: ns,
          plural: 'machines',
          labelSelector: `${CLUSTER_NAME_LABEL}=${sb.clusterName}`,
        }),
      )) as { items: any[] }
    ).items;
  const members = () => membersWithin(() => sb.refresh().etcd.endpoints, sb.etcd, SETTLE_MS);
  const daemonLog = () => readFileSync(join(sb.stateDir, 'logs/daemon.log'), 'utf8').split('\n').slice(-15).join('\n');

  before(async () => {
    sb = await upSandbox({ controlPlanes: 3, provider: 'cluster-api', bootDelaySeconds: 1, ownerPid: process.pid });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });
  after(async () => {
    await sb?.down();
  });

  it('runs the core manager and CABPK as sandbox processes and writes a cluster-api kubeswap config', async () => {
    const pids = readPidFiles(join(sb.stateDir, 'pids'));
    for (const name of [CORE_MANAGER, BOOTSTRAP_MANAGER]) assert.ok(pids[name] && isAlive(pids[name]), `${name} runs`);
    const config = parse(readFileSync(join(sb.stateDir, 'kubeswap.yaml'), 'utf8'));
    assert.deepEqual(config.provider, {
      name: 'cluster-api',
      kubeconfig: sb.kubeconfig,
      namespace: ns,
      clusterName: sb.clusterName,
    });
  });

  it('adopts the control plane: each Machine gets the nodeRef of the Node with its providerID, CABPK marks its config ready', async () => {
    const nodes = (await core.listNode({ labelSelector: 'node-role.kubernetes.io/control-plane' })).items;
    const adopted = await machines();
    assert.equal(adopted.length, 3);
    for (const m of adopted) {
      const node = nodes.find((n) => n.spec?.providerID === m.spec.providerID);
      assert.ok(node, `a Node with providerID ${m.spec.providerID}`);
      assert.equal(m.status?.nodeRef?.name, node.metadata?.name);
    }
    // CABPK (not the sandbox) sets the adopted configs' status from the Machines' dataSecretName.
    await waitFor(
      'CABPK to mark the adopted KubeadmConfigs ready',
      async () => {
        const configs = await Promise.all(
          adopted.map((m) => get(BOOTSTRAP_GROUP, CAPI_VERSION, 'kubeadmconfigs', m.spec.bootstrap.configRef.name)),
        );
        return configs.every((c) => c.status?.initialization?.dataSecretCreated === true) ? true : undefined;
      },
      SETTLE_MS,
      1000,
    );
    // The core controller finds the control plane initialized through the Machines' nodeRefs (no control plane object).
    await waitFor(
      'the Cluster to be ControlPlaneInitialized',
      async () => {
        const cluster = await get(CAPI_GROUP, CAPI_VERSION, 'clusters', sb.clusterName);
        const initialized = cluster.status?.conditions?.find((c: any) => c.type === 'ControlPlaneInitialized');
        return initialized?.status === 'True' ? true : undefined;
      },
      SETTLE_MS,
      1000,
    );
  });

  it('boots a new TO Machine from the data the real CABPK renders, as a control-plane Node with an etcd voter; deleting it stops it', async () => {
    const to = sb.versions.to;
    // kubeadm join refuses a kubelet newer than kubernetesVersion: bump it first, as kubeswap does before a TO join.
    const stored = (await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' })).data!;
    const setVersion = async (clusterConfiguration: string) => {
      const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
      cm.data!['ClusterConfiguration'] = clusterConfiguration;
      await core.replaceNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system', body: cm });
    };
    const bumped = parse(stored['ClusterConfiguration']!);
    bumped.kubernetesVersion = to;
    await setVersion(stringify(bumped));

    const name = `${sb.clusterName}-control-plane-to`;
    const labels = { [CLUSTER_NAME_LABEL]: sb.clusterName, [CONTROL_PLANE_LABEL]: '' };
    await create(BOOTSTRAP_GROUP, CAPI_VERSION, 'kubeadmconfigs', {
      apiVersion: `${BOOTSTRAP_GROUP}/${CAPI_VERSION}`,
      kind: 'KubeadmConfig',
      metadata: { name, labels },
      spec: { joinConfiguration: { controlPlane: {}, nodeRegistration: { name: NODE_NAME_TEMPLATE } } },
    });
    await create(INFRA_GROUP, INFRA_VERSION, 'sandboxmachines', {
      apiVersion: `${INFRA_GROUP}/${INFRA_VERSION}`,
      kind: 'SandboxMachine',
      metadata: { name, labels },
      spec: {},
    });
    await create(CAPI_GROUP, CAPI_VERSION, 'machines', {
      apiVersion: `${CAPI_GROUP}/${CAPI_VERSION}`,
      kind: 'Machine',
      metadata: { name, labels },
      spec: {
        clusterName: sb.clusterName,
        version: to,
        bootstrap: { configRef: { apiGroup: BOOTSTRAP_GROUP, kind: 'KubeadmConfig', name } },
        infrastructureRef: { apiGroup: INFRA_GROUP, kind: 'SandboxMachine', name },
      },
    });

    const secretName = await waitFor(
      'CABPK to render the bootstrap data',
      async () => (await get(BOOTSTRAP_GROUP, CAPI_VERSION, 'kubeadmconfigs', name)).status?.dataSecretName,
      SETTLE_MS,
      1000,
    );
    const secret = await core.readNamespacedSecret({ name: secretName, namespace: ns });
    const cloudInit = Buffer.from(secret.data!['value']!, 'base64').toString('utf8');
    assert.match(cloudInit, /^## template: jinja\n#cloud-config/);
    assert.match(cloudInit, /kubeadm join --config \/run\/kubeadm\/kubeadm-join-config.yaml/);
    assert.match(cloudInit, /kind: JoinConfiguration/);
    assert.match(cloudInit, /path: \/etc\/kubernetes\/pki\/ca.key/);

    const machine = await waitFor(
      `Machine ${name} to get a nodeRef`,
      async () => {
        const m = await get(CAPI_GROUP, CAPI_VERSION, 'machines', name);
        return m.status?.nodeRef?.name ? m : undefined;
      },
      SETTLE_MS,
      1000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${daemonLog()}`);
    });
    const nodeName: string = machine.status.nodeRef.name;
    const node = await core.readNode({ name: nodeName });
    const infra = await get(INFRA_GROUP, INFRA_VERSION, 'sandboxmachines', name);
    assert.equal(node.spec?.providerID, infra.spec.providerID);
    assert.equal(machine.spec.providerID, infra.spec.providerID);
    assert.equal(node.status?.nodeInfo?.kubeletVersion, to);
    assert.ok(node.metadata?.labels?.['node-role.kubernetes.io/control-plane'] !== undefined);
    const member = (await members()).find((m) => m.name === nodeName);
    assert.ok(member, `etcd member ${nodeName}`);
    assert.equal(member.isLearner, false);
    const instanceId = infra.status.instanceID as string;
    assert.equal((await sb.status()).machines.find((m) => m.instanceId === instanceId)?.state, 'running');

    // Deleting the Machine: Cluster API deletes the SandboxMachine, whose VM the sandbox terminates.
    await custom.deleteNamespacedCustomObject({
      group: CAPI_GROUP,
      version: CAPI_VERSION,
      namespace: ns,
      plural: 'machines',
      name,
    });
    await sb.waitForMachine(instanceId, ['terminated'], SETTLE_MS);
    await waitFor(
      `Machine ${name} and its SandboxMachine to be gone`,
      async () => {
        const left = await Promise.all([
          get(CAPI_GROUP, CAPI_VERSION, 'machines', name).catch(() => undefined),
          get(INFRA_GROUP, INFRA_VERSION, 'sandboxmachines', name).catch(() => undefined),
        ]);
        return left.every((x) => x === undefined) ? true : undefined;
      },
      SETTLE_MS,
      1000,
    );
    // Restore: a Machine-based control plane leaves the member to whoever retires it (kubeswap); remove it here.
    const client = etcdClient(sb.refresh().etcd.endpoints, sb.etcd);
    try {
      await client.cluster.memberRemove({ ID: member.id });
    } finally {
      client.close();
    }
    await setVersion(stored['ClusterConfiguration']!);
  });

  it('a scenario can put the Machines under a KubeadmControlPlane (controller owner, Cluster controlPlaneRef) and take them back', async () => {
    const target: KcpOwnerTarget = {
      kubeconfig: sb.kubeconfig,
      clusterName: sb.clusterName,
      version: sb.versions.from,
      image: sb.aws.images[sb.versions.from]!,
      replicas: 3,
    };
    await addKubeadmControlPlaneOwner(target);
    try {
      const owned = await machines();
      assert.equal(owned.length, 3);
      for (const m of owned) {
        const controller = m.metadata.ownerReferences?.find((o: any) => o.controller);
        assert.equal(controller?.kind, 'KubeadmControlPlane');
      }
      const cluster = await get(CAPI_GROUP, CAPI_VERSION, 'clusters', sb.clusterName);
      assert.equal(cluster.spec.controlPlaneRef?.kind, 'KubeadmControlPlane');
    } finally {
      await removeKubeadmControlPlaneOwner(target);
    }
    await sleep(3000); // the garbage collector acts asynchronously on the deleted owner
    const released = await machines();
    assert.equal(released.length, 3, 'deleting the KubeadmControlPlane garbage-collected no Machine');
    for (const m of released)
      assert.ok(!m.metadata.ownerReferences?.some((o: any) => o.kind === 'KubeadmControlPlane'));
    assert.equal((await get(CAPI_GROUP, CAPI_VERSION, 'clusters', sb.clusterName)).spec.controlPlaneRef, undefined);
  });
});
