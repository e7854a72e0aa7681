// One control-plane machine's processes: its certs (made by kubeadm from the shared authorities), its etcd member
// and its kube-apiserver of the machine's own version, plus the Node and mirror pods its kubelet would publish.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiServerArgs, apiServerReady } from './control-plane.ts';
import { clientUrl, etcdArgs, etcdClient } from './etcd.ts';
import { apiCall } from './join-facts.ts';
import { renderInitConfig, writeConfig } from './kubeadm.ts';
import { markNodeDead, nudgeUnreportedPods, registerMachine } from './nodes.ts';
import { STATUS_REPORT_MS } from './pod-status.ts';
import { allocatePort, retryingFor, waitFor, within } from './processes.ts';
import { apiServerProcess, binaryOf, etcdProcess, type Machine, type Runtime } from './runtime.ts';

/** What a machine is before it boots: who it is, as the instance and its image say. */
export type MachineSeed = Pick<Machine, 'instanceId' | 'node' | 'az' | 'privateIp' | 'instanceType' | 'version'>;

export async function newMachine(rt: Runtime, seed: MachineSeed): Promise<Machine> {
  const dir = join(rt.stateDir, 'machines', seed.node);
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const machine: Machine = {
    ...seed,
    state: 'booting',
    detail: '',
    etcdMemberId: '',
    ports: { etcdClient: await allocatePort(), etcdPeer: await allocatePort(), apiServer: await allocatePort() },
    dir,
    pkiDir: join(dir, 'pki'),
    etcdDataDir: join(dir, 'etcd'),
  };
  rt.machines.set(seed.instanceId, machine);
  return machine;
}

/** kubeadm makes the machine's serving and client certs with its own node name, as join does on the VM. */
export async function createCerts(rt: Runtime, m: Machine): Promise<void> {
  const config = writeConfig(
    join(m.dir, 'kubeadm.yaml'),
    renderInitConfig(rt.cluster, {
      nodeName: m.node,
      apiServerPort: m.ports.apiServer,
      advertiseAddress: m.privateIp,
      certificatesDir: m.pkiDir,
    }),
  );
  const kubeadm = rt.plan.binaries.kubernetes[m.version] ? rt.kubeadm(m.version) : rt.kubeadm(rt.plan.versions.from);
  await kubeadm.createMachineCerts(config, join(rt.stateDir, 'pki'), m.pkiDir);
}

export function startEtcd(rt: Runtime, m: Machine, initialCluster: string, state: 'new' | 'existing'): void {
  const spec = { name: m.node, clientPort: m.ports.etcdClient, peerPort: m.ports.etcdPeer, dataDir: m.etcdDataDir };
  rt.processes.start(
    etcdProcess(m),
    join(rt.plan.binaries.etcdDir, 'etcd'),
    etcdArgs({ ...spec, pkiDir: m.pkiDir }, initialCluster, state),
  );
}

/** Restarts a member from its data dir; etcd ignores --initial-cluster once the data dir exists. */
export function restartEtcd(rt: Runtime, m: Machine): void {
  startEtcd(rt, m, `${m.node}=https://127.0.0.1:${m.ports.etcdPeer}`, 'existing');
}

export function startApiServer(rt: Runtime, m: Machine): void {
  const spec = { port: m.ports.apiServer, etcdClientPort: m.ports.etcdClient, pkiDir: m.pkiDir };
  const extra = rt.plan.apiServerArgs?.[m.version] ?? [];
  rt.processes.start(apiServerProcess(m), binaryOf(rt.plan, m.version, 'kube-apiserver'), [
    ...apiServerArgs(spec),
    ...extra,
  ]);
}

export async function waitApiServerReady(m: Machine, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    `kube-apiserver of ${m.node} to be ready`,
    async () => ((await apiServerReady(m.ports.apiServer, m.pkiDir)) ? true : undefined),
    timeoutMs,
    500,
  );
}

export async function registerNode(rt: Runtime, m: Machine, controlPlane: boolean): Promise<void> {
  await apiCall(() =>
    registerMachine(
      rt.core,
      { ...m, controlPlane },
      {
        apiServerPort: m.ports.apiServer,
        etcdClientUrl: clientUrl(m.ports.etcdClient),
        etcdVersion: rt.etcdVersion,
      },
    ),
  );
  if (controlPlane) void reportedByKwok(rt, m);
}

/** In the background: nudge kwok about mirror pods it passed over (nodes.ts nudgeUnreportedPods), for a minute. */
async function reportedByKwok(rt: Runtime, m: Machine): Promise<void> {
  const names = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => `${c}-${m.node}`);
  for (let round = 0; round < 4 && !m.terminating && m.state !== 'terminated'; round++) {
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const nudged = await nudgeUnreportedPods(rt.core, names).catch(() => []);
    if (!nudged.length) return;
    rt.log(`${m.node}: nudged kwok about ${nudged.join(', ')}`);
  }
}

/** The VM is gone: its processes stop and its kubelet stops posting status. */
export async function terminateMachine(rt: Runtime, m: Machine): Promise<void> {
  if (m.terminating || m.state === 'terminated') return;
  m.terminating = true;
  const hadNode = m.state === 'running';
  // Drop its endpoints from sandbox.json before its processes stop, not after the Node update below.
  rt.publish();
  await Promise.all([rt.processes.stop(apiServerProcess(m), 3000), rt.processes.stop(etcdProcess(m), 3000)]);
  // "terminated" is published once the Node says so too: a reader that sees the state must see the NotReady Node.
  // Through the load balancer the API can be slow or briefly unreachable (a backend just stopped): keep trying as
  // long as a status report may take.
  if (hadNode)
    await retryingFor(() => markNodeDead(rt.core, m.node), STATUS_REPORT_MS).catch((err) =>
      rt.log(`mark ${m.node} dead: ${err}`),
    );
  m.state = 'terminated';
  m.detail = 'instance terminated';
  rt.publish();
}

/** A static pod's container died: the kubelet reports its mirror pod not Ready. */
export async function reportCrash(rt: Runtime, m: Machine, component: string): Promise<void> {
  if (m.state !== 'running') return;
  rt.log(`${m.node}: ${component} crashed`);
  // Through the load balancer, a request can land on this machine's own apiserver, which hangs or fails with its etcd
  // gone until the health checks take it out: the report keeps trying as a kubelet would, until a heal's supersedes it.
  await rt.podStatus
    .report(`${component}-${m.node}`, false)
    .catch((err) => rt.log(`report ${component}-${m.node} not ready: ${err}`));
}

/** The kubelet restarts crashed static pods: bring back whatever of the machine is down. */
export async function healMachine(rt: Runtime, m: Machine): Promise<void> {
  if (!rt.processes.has(etcdProcess(m))) {
    restartEtcd(rt, m);
    // Ready like the kubelet's probe says it: once the member answers, not when its process was spawned.
    await waitEtcdServing(rt, m);
    await rt.podStatus.report(`etcd-${m.node}`, true);
  }
  if (!rt.processes.has(apiServerProcess(m))) {
    startApiServer(rt, m);
    await waitApiServerReady(m);
    await rt.podStatus.report(`kube-apiserver-${m.node}`, true);
  }
}

async function waitEtcdServing(rt: Runtime, m: Machine, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `etcd of ${m.node} to serve`,
    async () => {
      const client = etcdClient([clientUrl(m.ports.etcdClient)], rt.etcdTls, 3000);
      try {
        return (await within(client.maintenance.status(), 5000, `etcd of ${m.node} status`)) ? true : undefined;
      } finally {
        client.close();
      }
    },
    timeoutMs,
    500,
  );
}
