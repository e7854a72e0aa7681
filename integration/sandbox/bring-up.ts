// The sandbox's bring-up, in the order a kubeadm HA cluster comes up on real VMs: AWS first (the VMs exist), then
// PKI, etcd, apiservers, the load balancer, the kubelets' Nodes, kubeadm's cluster state, controllers, CRDs.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import {
  awsClients,
  createControlPlaneGroup,
  createTopology,
  launchInitialInstances,
  registerTargets,
  servingTargets,
} from './aws.ts';
import { AwsFront } from './aws-front.ts';
import { adoptControlPlane, CAPI_NAMESPACE, waitForNodeRefs } from './capi-adopt.ts';
import { startClusterApiManagers } from './capi-managers.ts';
import { controllerManagerArgs, schedulerArgs } from './control-plane.ts';
import { installClusterApiCrds, installSandboxInfraCrds } from './crds.ts';
import { clientUrl, clusterHealthy, etcdClient, initialClusterOf, listMembers } from './etcd.ts';
import { renderJoinRecipe } from './join.ts';
import { Kubeadm, newBootstrapToken, renderInitConfig, storeAsV1beta3, writeConfig } from './kubeadm.ts';
import { startKwok } from './kwok.ts';
import { LoadBalancer, readyzProbe } from './load-balancer.ts';
import { createCerts, newMachine, registerNode, startApiServer, startEtcd, waitApiServerReady } from './machine.ts';
import { MirrorPodStatus } from './pod-status.ts';
import { allocatePort, type ProcessTable, waitFor } from './processes.ts';
import { binaryOf, type Runtime } from './runtime.ts';
import { SandboxInfraController } from './sandbox-infra.ts';
import { waitClusterSettled } from './settle.ts';
import { ensureDir, paths, type SandboxPlan } from './state.ts';
import { startWorkers } from './workers.ts';

export interface BringUpResult {
  rt: Runtime;
  loadBalancer: LoadBalancer;
  /** With --provider cluster-api: reconciles the sandbox infrastructure provider's objects. */
  infra?: SandboxInfraController;
}

export async function bringUp(
  plan: SandboxPlan,
  processes: ProcessTable,
  log: (line: string) => void,
  publish: () => void,
): Promise<BringUpResult> {
  const dir = paths(plan.stateDir);
  const { from, to } = plan.versions;

  // 1. moto plays AWS: VPC, subnets, images per version, launch template, target group, the initial VMs.
  const motoPort = await allocatePort();
  processes.start('moto', 'moto_server', ['-H', '127.0.0.1', '-p', String(motoPort)]);
  const motoEndpoint = `http://127.0.0.1:${motoPort}`;
  await waitFor('moto', async () => ((await fetch(`${motoEndpoint}/moto-api/`)).ok ? true : undefined), 30_000);
  // The daemon's own clients read moto as it is; everyone else goes through the AWS emulation in front of it.
  const aws = awsClients(motoEndpoint);
  const awsFront = new AwsFront(motoEndpoint, {
    terminationDelayMs: (plan.terminationDelaySeconds ?? 0) * 1000,
    targetDraining: plan.targetDraining,
  });
  const awsEndpoint = await awsFront.start(await allocatePort());
  const topology = await createTopology(
    aws,
    plan.clusterName,
    [from, to],
    renderJoinRecipe(plan.clusterName),
    plan.deregistrationDelaySeconds,
  );
  const instances =
    plan.provider === 'aws-asg'
      ? await createControlPlaneGroup(aws, topology, plan.clusterName, plan.controlPlanes)
      : await launchInitialInstances(aws, topology, plan.controlPlanes);
  log(`aws: ${instances.length} control-plane instances running in moto`);

  // 2. The cluster's authorities and config, made by the real kubeadm of FROM.
  const loadBalancerPort = await allocatePort();
  const kubeadms = new Map<string, Kubeadm>();
  const kubeadm = (version: string) => {
    if (!kubeadms.has(version)) kubeadms.set(version, new Kubeadm(binaryOf(plan, version, 'kubeadm'), log));
    return kubeadms.get(version)!;
  };
  const cluster = {
    clusterName: plan.clusterName,
    kubernetesVersion: from,
    controlPlaneEndpoint: `127.0.0.1:${loadBalancerPort}`,
    bootstrapToken: newBootstrapToken(randomBytes),
  };
  const rt: Runtime = {
    plan,
    stateDir: plan.stateDir,
    processes,
    aws,
    awsEndpoint,
    awsFront,
    topology,
    machines: new Map(),
    core: undefined as unknown as k8s.CoreV1Api,
    podStatus: new MirrorPodStatus(() => rt.core, log),
    etcdTls: {
      caFile: join(dir.pki, 'etcd/ca.crt'),
      certFile: join(dir.pki, 'apiserver-etcd-client.crt'),
      keyFile: join(dir.pki, 'apiserver-etcd-client.key'),
    },
    kubeadm,
    cluster,
    loadBalancerPort,
    etcdVersion: plan.binaries.etcdDir.match(/etcd-(v[\d.]+)/)?.[1] ?? 'v3.6',
    log,
    publish,
  };
  const machines = [];
  for (const instance of instances) {
    machines.push(
      await newMachine(rt, {
        instanceId: instance.InstanceId!,
        node: instance.PrivateDnsName!,
        az: instance.Placement!.AvailabilityZone!,
        privateIp: instance.PrivateIpAddress!,
        instanceType: instance.InstanceType ?? 't3.large',
        version: from,
      }),
    );
  }
  const first = machines[0]!;
  const initConfig = writeConfig(
    dir.kubeadmConfig,
    renderInitConfig(cluster, {
      nodeName: first.node,
      apiServerPort: first.ports.apiServer,
      advertiseAddress: first.privateIp,
      certificatesDir: ensureDir(dir.pki),
    }),
  );
  await kubeadm(from).createAuthorities(initConfig);
  for (const m of machines) await createCerts(rt, m);

  // 3. Stacked etcd: one member per machine, started together as one new cluster.
  const initialCluster = initialClusterOf(machines.map((m) => ({ name: m.node, peerPort: m.ports.etcdPeer })));
  for (const m of machines) startEtcd(rt, m, initialCluster, 'new');
  const endpoints = machines.map((m) => clientUrl(m.ports.etcdClient));
  await waitFor(
    'etcd quorum and leader',
    async () => ((await clusterHealthy(endpoints, rt.etcdTls)) ? true : undefined),
    60_000,
    500,
  );
  const etcd = etcdClient(endpoints, rt.etcdTls);
  for (const member of await listMembers(etcd)) {
    const m = machines.find((x) => x.node === member.name);
    if (m) m.etcdMemberId = member.id;
  }
  etcd.close();
  log('etcd: members started, leader elected');

  // 4. One kube-apiserver of FROM per machine, each on its own member.
  for (const m of machines) startApiServer(rt, m);
  await Promise.all(machines.map((m) => waitApiServerReady(m)));
  log('kube-apiserver: all ready');

  // 5. kubeconfigs; the load balancer follows the target group, where the VMs get registered.
  ensureDir(dir.kubeconfigs);
  const superAdmin = await kubeadm(from).createKubeconfig('super-admin', initConfig, dir.kubeconfigs);
  const admin = await kubeadm(from).createKubeconfig('admin', initConfig, dir.kubeconfigs);
  const kcmConfig = await kubeadm(from).createKubeconfig('controller-manager', initConfig, dir.kubeconfigs);
  const schedulerConfig = await kubeadm(from).createKubeconfig('scheduler', initConfig, dir.kubeconfigs);
  // kubeadm points these at the first machine's apiserver; the sandbox runs them apart from any machine.
  for (const file of [kcmConfig, schedulerConfig]) pointAt(file, `https://127.0.0.1:${loadBalancerPort}`);
  const loadBalancer = new LoadBalancer({
    port: loadBalancerPort,
    registeredTargets: () => servingTargets(aws, topology.targetGroupArn),
    portOf: (id) => {
      const m = rt.machines.get(id);
      return m && m.state !== 'terminated' && !m.terminating ? m.ports.apiServer : undefined;
    },
    deregistrationDelayMs: plan.deregistrationDelaySeconds * 1000,
    probe: (port) => readyzProbe(port),
    log,
  });
  await loadBalancer.start();
  await registerTargets(
    aws,
    topology.targetGroupArn,
    machines.map((m) => m.instanceId),
  );
  const superKc = new k8s.KubeConfig();
  superKc.loadFromFile(superAdmin);
  rt.core = superKc.makeApiClient(k8s.CoreV1Api);
  await waitFor('the API through the load balancer', async () => (await rt.core.listNamespace()) ?? undefined, 30_000);

  // 6. The kubelets register their Nodes (kwok keeps them Ready), then kubeadm's init phases run against the API.
  await startKwok(rt, admin);
  for (const m of machines) {
    await registerNode(rt, m, true);
    m.state = 'running';
  }
  await kubeadm(from).uploadClusterState(initConfig, superAdmin);
  if (plan.kubeadmApi === 'v1beta3') await storeAsV1beta3(rt.core);
  await bindClusterAdmins(superKc);
  rt.core = kubeClient(admin);

  // 7. One kube-controller-manager and kube-scheduler of TO, the workers, and the Cluster API CRDs.
  processes.start('kube-controller-manager', binaryOf(plan, to, 'kube-controller-manager'), [
    ...controllerManagerArgs(dir.pki, kcmConfig, await allocatePort()),
    ...(plan.controllerManagerArgs ?? []),
  ]);
  processes.start(
    'kube-scheduler',
    binaryOf(plan, to, 'kube-scheduler'),
    schedulerArgs(schedulerConfig, await allocatePort()),
  );
  await startWorkers(rt);
  await installClusterApiCrds(binaryOf(plan, from, 'kubectl'), superAdmin, plan.binaries.clusterApiDir, log);
  await waitClusterSettled(rt);
  // Last: from here on moto checks every request against IAM (the daemon signs as the sandbox's admin user).
  if (plan.awsIam) await awsFront.enforceIam();
  if (plan.provider !== 'cluster-api') return { rt, loadBalancer };

  // 8. --provider cluster-api: our infrastructure provider, the adopted control plane, the real controllers.
  await installSandboxInfraCrds(binaryOf(plan, from, 'kubectl'), superAdmin, log);
  const infra = new SandboxInfraController(rt, admin, CAPI_NAMESPACE);
  infra.start();
  await adoptControlPlane(rt, admin, machines, plan.clusterApiControlPlane ?? 'machines');
  await startClusterApiManagers(rt, admin);
  await waitForNodeRefs(admin, plan.clusterName, machines.length);
  log('cluster-api: every adopted Machine has its nodeRef');
  return { rt, loadBalancer, infra };
}

export function kubeClient(kubeconfig: string): k8s.CoreV1Api {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc.makeApiClient(k8s.CoreV1Api);
}

function pointAt(kubeconfig: string, server: string): void {
  const doc = parse(readFileSync(kubeconfig, 'utf8'));
  for (const c of doc.clusters ?? []) c.cluster.server = server;
  writeFileSync(kubeconfig, stringify(doc), { mode: 0o600 });
}

/**
 * kubeadm >= 1.29 puts admin.conf in group kubeadm:cluster-admins and binds it to cluster-admin itself during
 * `kubeadm init` (EnsureAdminClusterRoleBinding), which standalone phases skip: do the same here.
 */
async function bindClusterAdmins(kc: k8s.KubeConfig): Promise<void> {
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name: 'kubeadm:cluster-admins' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'kubeadm:cluster-admins' }],
      },
    })
    .catch((err) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
}
