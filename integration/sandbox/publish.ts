// Writes the sandbox's contract files from the daemon's current view, each time a machine changes: sandbox.json
// (running machines), env, kubeswap.yaml, and machines.json (every simulated machine with its state).
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CAPI_NAMESPACE } from './capi-adopt.ts';
import { machineDeploymentNameOf } from './capi-workers.ts';
import { clientUrl } from './etcd.ts';
import type { LoadBalancer } from './load-balancer.ts';
import type { Runtime } from './runtime.ts';
import { paths, renderEnv, renderKubeswapConfig, type SandboxDescription, writeJson } from './state.ts';
import { workerNodes } from './workers.ts';

export interface MachineStatus {
  node: string;
  instanceId: string;
  version: string;
  state: string;
  detail: string;
  etcdMemberId: string;
  apiServer: string;
  processes: string[];
  fault?: string;
}

export function describe(rt: Runtime, controlUrl: string): SandboxDescription {
  const dir = paths(rt.stateDir);
  // A machine whose processes are being stopped is no longer one to dial: readers of sandbox.json (tests, the
  // kubeswap config) would race its etcd going away.
  const running = [...rt.machines.values()].filter((m) => m.state === 'running' && !m.terminating);
  return {
    stateDir: rt.stateDir,
    clusterName: rt.plan.clusterName,
    kubeconfig: join(dir.kubeconfigs, 'admin.conf'),
    apiServer: `https://127.0.0.1:${rt.loadBalancerPort}`,
    etcd: {
      endpoints: running.map((m) => clientUrl(m.ports.etcdClient)),
      caFile: rt.etcdTls.caFile,
      certFile: rt.etcdTls.certFile,
      keyFile: rt.etcdTls.keyFile,
    },
    aws: {
      endpoint: rt.awsEndpoint,
      region: 'us-east-1',
      vpcId: rt.topology.vpcId,
      subnetIds: rt.topology.subnetIds,
      launchTemplateId: rt.topology.launchTemplateId,
      targetGroupArn: rt.topology.targetGroupArn,
      images: rt.topology.images,
      ...(rt.topology.autoScalingGroup ? { autoScalingGroup: rt.topology.autoScalingGroup } : {}),
      ...(rt.topology.workerLaunchTemplateId ? { workerLaunchTemplateId: rt.topology.workerLaunchTemplateId } : {}),
    },
    ...(rt.plan.provider === 'cluster-api'
      ? {
          clusterApi: {
            kubeconfig: join(dir.kubeconfigs, 'admin.conf'),
            namespace: CAPI_NAMESPACE,
            clusterName: rt.plan.clusterName,
            controlPlane: rt.plan.clusterApiControlPlane ?? 'machines',
            ...(rt.plan.clusterApiWorkers ? { machineDeployment: machineDeploymentNameOf(rt.plan.clusterName) } : {}),
          },
        }
      : {}),
    versions: rt.plan.versions,
    machines: running.map((m) => ({
      node: m.node,
      instanceId: m.instanceId,
      etcdMemberId: m.etcdMemberId,
      apiServer: `https://127.0.0.1:${m.ports.apiServer}`,
      version: m.version,
    })),
    workers: [...workerNodes],
    control: controlUrl,
  };
}

export function machineStatuses(rt: Runtime): MachineStatus[] {
  return [...rt.machines.values()].map((m) => ({
    node: m.node,
    instanceId: m.instanceId,
    version: m.version,
    state: m.state,
    detail: m.detail,
    etcdMemberId: m.etcdMemberId,
    apiServer: `https://127.0.0.1:${m.ports.apiServer}`,
    processes: rt.processes.names().filter((n) => n.startsWith(`${m.node}.`)),
    fault: m.fault?.kind,
  }));
}

let writes = 0;

/** Replace files atomically so a reader never sees half a sandbox.json. */
function atomicWrite(file: string, text: string): void {
  const tmp = join(dirname(file), `.${process.pid}.${++writes}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function publishFiles(rt: Runtime, controlUrl: string, lb?: LoadBalancer): void {
  const dir = paths(rt.stateDir);
  const d = describe(rt, controlUrl);
  atomicWrite(dir.description, `${JSON.stringify(d, null, 2)}\n`);
  const kubectlDir = rt.plan.binaries.kubernetes[rt.plan.versions.from]!;
  atomicWrite(dir.env, renderEnv(d, rt.plan.binaries.etcdDir, kubectlDir));
  atomicWrite(dir.kubeswapConfig, renderKubeswapConfig(d, rt.plan.deregistrationDelaySeconds));
  writeJson(join(rt.stateDir, 'machines.json'), {
    machines: machineStatuses(rt),
    loadBalancer: lb ? { serving: lb.serving() } : undefined,
  });
}
