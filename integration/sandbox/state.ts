// The sandbox's files in its state dir: the contract others read (sandbox.json, env, kubeswap.yaml) and the
// daemon's private bring-up plan. Every path here is inside the state dir; nothing is written to system paths.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const AWS_REGION = 'us-east-1';
export const AWS_TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** One control-plane machine as others see it (sandbox.json `machines[]`). */
export interface MachineRecord {
  node: string;
  instanceId: string;
  etcdMemberId: string;
  apiServer: string;
  version: string;
}

/** The contract: DIR/sandbox.json. */
export interface SandboxDescription {
  stateDir: string;
  clusterName: string;
  kubeconfig: string;
  apiServer: string;
  etcd: { endpoints: string[]; caFile: string; certFile: string; keyFile: string };
  aws: {
    endpoint: string;
    region: string;
    vpcId: string;
    subnetIds: string[];
    launchTemplateId: string;
    targetGroupArn: string;
    images: Record<string, string>;
    /** With --provider aws-asg: the Auto Scaling group of the control-plane instances. */
    autoScalingGroup?: string;
    /** With workers: the launch template worker replacements launch from (its user data is a worker join). */
    workerLaunchTemplateId?: string;
    /** With workerGroups: each pool's worker Auto Scaling group, by pool name. */
    workerGroups?: Record<string, string>;
  };
  /** With --provider cluster-api: where the Cluster API objects of the (self-hosted) management cluster live. */
  clusterApi?: {
    kubeconfig: string;
    namespace: string;
    clusterName: string;
    controlPlane: ClusterApiControlPlane;
    /** The worker MachineDeployment (--capi-workers), when there is one. */
    machineDeployment?: string;
  };
  versions: { from: string; to: string };
  machines: MachineRecord[];
  workers: string[];
  control: string;
}

/** What `up` decided before the daemon starts: sizes, versions and located binaries. */
export interface SandboxPlan {
  stateDir: string;
  repoRoot: string;
  clusterName: string;
  controlPlanes: number;
  workers: number;
  /** Worker pools by name -> size, each worker tagged kubeswap-sandbox/pool=<name> (instead of `workers`). */
  workerPools?: Record<string, number>;
  /** Each worker pool is an Auto Scaling group `<cluster>-<pool>` launched from the workers' template (aws-asg). */
  workerGroups?: boolean;
  bootDelaySeconds: number;
  deregistrationDelaySeconds: number;
  /** AWS timings at a chosen scale (aws-front.ts AwsTimings): off unless set. */
  terminationDelaySeconds?: number;
  targetDraining?: boolean;
  /**
   * v1beta3: kubeadm-config holds a v1beta3 ClusterConfiguration, as in a cluster made by kubeadm <= 1.30 whose
   * config no `kubeadm upgrade apply` re-uploaded (a cluster upgraded by replacing machines keeps it).
   */
  kubeadmApi?: 'v1beta3';
  /** moto enforces IAM once the sandbox is up (aws-iam.ts); kubeswap then needs an IAM user's key. */
  awsIam?: boolean;
  /** aws-asg: the control-plane instances are an Auto Scaling group's, with the API target group attached. */
  provider?: SandboxProvider;
  /**
   * cluster-api: the real Cluster API core manager and CABPK run against the sandbox, and the initial control plane
   * is adopted as Machines; `kubeadm-control-plane` makes a KubeadmControlPlane their owner (no KCP controller runs).
   */
  clusterApiControlPlane?: ClusterApiControlPlane;
  /** With provider cluster-api: the replicas of a worker MachineDeployment (capi-workers.ts); 0 or absent: none. */
  clusterApiWorkers?: number;
  versions: { from: string; to: string };
  binaries: {
    etcdDir: string;
    kwokDir: string;
    kwokModuleDir: string;
    clusterApiDir: string;
    /** The core manager and CABPK (build.sh cluster-api-managers); only with --provider cluster-api. */
    clusterApiManagersDir?: string;
    /** kubernetes-vX.Y.Z folders by version. */
    kubernetes: Record<string, string>;
  };
  /** When set, the daemon tears everything down once this process is gone (test runs). */
  ownerPid?: number;
  /** The owner only guards the bring-up (the CLI's `up`): once ready, the sandbox outlives it. */
  ownerOnlyUntilReady?: boolean;
  /** Extra kube-apiserver flags by Kubernetes version (UpOptions.apiServerArgs). */
  apiServerArgs?: Record<string, string[]>;
  /**
   * Extra kube-controller-manager flags, after the sandbox's own. bench:scale sets `--node-monitor-grace-period` long:
   * its plain Nodes have no kubelet to renew a Lease, and TO's node lifecycle controller, once a Node's grace period
   * is over, reads its Lease with a permission FROM's RBAC does not grant and gives up the whole pass
   * (NodeControllerLeaseCircuitBreaker), so the control-plane Nodes' not-ready taints would never be lifted.
   */
  controllerManagerArgs?: string[];
}

export type SandboxProvider = 'aws-ec2' | 'aws-asg' | 'cluster-api';
export type ClusterApiControlPlane = 'machines' | 'kubeadm-control-plane';

export const paths = (dir: string) => ({
  plan: join(dir, 'plan.json'),
  description: join(dir, 'sandbox.json'),
  env: join(dir, 'env'),
  kubeswapConfig: join(dir, 'kubeswap.yaml'),
  ready: join(dir, 'ready'),
  failed: join(dir, 'failed'),
  daemonPid: join(dir, 'daemon.pid'),
  pids: join(dir, 'pids'),
  logs: join(dir, 'logs'),
  pki: join(dir, 'pki'),
  kubeconfigs: join(dir, 'kubeconfigs'),
  machines: join(dir, 'machines'),
  kubeadmConfig: join(dir, 'kubeadm-init.yaml'),
  control: join(dir, 'control.json'),
});

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Shell exports for `source DIR/env`; the AWS keys are moto's fixed test credentials, not secrets. */
export function renderEnv(d: SandboxDescription, etcdctlDir: string, kubectlDir: string): string {
  const lines = [
    `export KUBECONFIG=${d.kubeconfig}`,
    `export AWS_ENDPOINT_URL=${d.aws.endpoint}`,
    `export AWS_REGION=${d.aws.region}`,
    `export AWS_DEFAULT_REGION=${d.aws.region}`,
    `export AWS_ACCESS_KEY_ID=${AWS_TEST_CREDENTIALS.accessKeyId}`,
    `export AWS_SECRET_ACCESS_KEY=${AWS_TEST_CREDENTIALS.secretAccessKey}`,
    `export ETCDCTL_ENDPOINTS=${d.etcd.endpoints.join(',')}`,
    `export ETCDCTL_CACERT=${d.etcd.caFile}`,
    `export ETCDCTL_CERT=${d.etcd.certFile}`,
    `export ETCDCTL_KEY=${d.etcd.keyFile}`,
    `export PATH=${kubectlDir}:${etcdctlDir}:$PATH`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The kubeswap CLI's config for this sandbox (shape agreed with the CLI owners). */
export function renderKubeswapConfig(d: SandboxDescription, deregistrationDelaySeconds: number): string {
  const aws = {
    region: d.aws.region,
    endpoint: d.aws.endpoint,
    clusterName: d.clusterName,
    images: d.aws.images,
    deregistrationDelaySeconds,
  };
  const capi = d.clusterApi;
  return stringify({
    kubeconfig: d.kubeconfig,
    etcd: { endpoints: d.etcd.endpoints, ca: d.etcd.caFile, cert: d.etcd.certFile, key: d.etcd.keyFile },
    provider: capi
      ? { name: 'cluster-api', kubeconfig: capi.kubeconfig, namespace: capi.namespace, clusterName: capi.clusterName }
      : d.aws.autoScalingGroup
        ? { name: 'aws-asg', autoScalingGroup: d.aws.autoScalingGroup, ...aws }
        : { name: 'aws-ec2', launchTemplate: d.aws.launchTemplateId, targetGroupArn: d.aws.targetGroupArn, ...aws },
    // The worker MachineDeployment (--capi-workers) as a pool, with Cluster API's default strategy.
    ...(capi?.machineDeployment
      ? {
          workerPools: [{ name: 'workers', machineDeployment: capi.machineDeployment, maxSurge: 1, maxUnavailable: 0 }],
        }
      : {}),
  });
}
