// Programmatic API of the sandbox, for the CLI and for integration tests' before/after hooks:
//   const sb = await upSandbox({ controlPlanes: 3 }); ... await sb.down();
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildComponent, FROM_BINARIES, kwokModuleDir, readVersions, resolveVersion, TO_BINARIES } from './binaries.ts';
import type { FaultRequest } from './faults.ts';
import { isAlive, readPidFiles, sleep, waitFor } from './processes.ts';
import type { MachineStatus } from './publish.ts';
import {
  type ClusterApiControlPlane,
  ensureDir,
  paths,
  readJson,
  type SandboxDescription,
  type SandboxPlan,
  type SandboxProvider,
  writeJson,
} from './state.ts';

export type { FaultRequest, LaunchFault, RunningFault } from './faults.ts';
export type { MachineStatus } from './publish.ts';
export type { MachineRecord, SandboxDescription } from './state.ts';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface UpOptions {
  controlPlanes?: number;
  workers?: number;
  /** Worker pools by name -> size (SandboxPlan.workerPools). */
  workerPools?: Record<string, number>;
  /** Each worker pool as an Auto Scaling group (SandboxPlan.workerGroups). */
  workerGroups?: boolean;
  from?: string;
  to?: string;
  bootDelaySeconds?: number;
  deregistrationDelaySeconds?: number;
  /** EC2 termination takes this long (instance shutting-down meanwhile; AwsTimings). Default 0: at once, as moto. */
  terminationDelaySeconds?: number;
  /** A deregistered API target drains for the deregistration delay, as ELBv2 does (AwsTimings). Default: off. */
  targetDraining?: boolean;
  /** Start with a v1beta3 ClusterConfiguration in kubeadm-config (SandboxPlan.kubeadmApi). */
  kubeadmApi?: 'v1beta3';
  /** moto enforces IAM once the sandbox is up (SandboxPlan.awsIam; integration/AWS-EMULATION.md says what it checks). */
  awsIam?: boolean;
  /**
   * aws-asg: the control-plane instances belong to an Auto Scaling group in moto. cluster-api: the real Cluster API
   * controllers run against the sandbox and the control plane is adopted as Machines (capi-adopt.ts).
   */
  provider?: SandboxProvider;
  /** With provider cluster-api: `kubeadm-control-plane` puts the Machines under a KubeadmControlPlane. */
  clusterApiControlPlane?: ClusterApiControlPlane;
  /** With provider cluster-api: a worker MachineDeployment of this many Machines (capi-workers.ts). */
  clusterApiWorkers?: number;
  stateDir?: string;
  clusterName?: string;
  /** Tie the sandbox's life to this process (tests): the daemon tears down when it is gone. */
  ownerPid?: number;
  /** With ownerPid: the owner guards only the bring-up (a killed `up` leaves nothing behind). */
  ownerOnlyUntilReady?: boolean;
  log?: (line: string) => void;
  timeoutMs?: number;
  /**
   * Extra kube-apiserver flags by Kubernetes version (e.g. `--runtime-config` to serve a deprecated beta API on FROM
   * only: TO no longer has it, and an apiserver refuses to start with a group version it does not know).
   */
  apiServerArgs?: Record<string, string[]>;
  /** Extra kube-controller-manager flags (SandboxPlan.controllerManagerArgs). */
  controllerManagerArgs?: string[];
}

export interface SandboxStatus {
  machines: MachineStatus[];
  faults: unknown;
  loadBalancer: string[];
}

export interface Sandbox extends SandboxDescription {
  /** Re-reads sandbox.json (machines change as the simulator joins and terminates them). */
  refresh(): SandboxDescription;
  status(): Promise<SandboxStatus>;
  fault(request: FaultRequest): Promise<string>;
  /** An hour passes in AWS: terminated instances leave DescribeInstances, their ClientTokens are remembered. */
  awsForgetTerminated(): Promise<number>;
  /** Every AWS request kubeswap sent through the sandbox's AWS front so far: its Action and when (ms since the epoch). */
  awsRequests(): Promise<{ action: string; at: number }[]>;
  /**
   * The next `count` RunInstances responses are lost after AWS acted (the connection drops): the client's retry
   * with the same ClientToken must get the original reservation, not a second instance. Resolves the lost
   * responses so far (instance ids launched whose answer was dropped).
   */
  awsLoseRunInstancesResponses(count: number): Promise<string[]>;
  /** With awsIam: an IAM user holding exactly `policy` (a JSON policy document, replacing what it held), its key. */
  awsIamUser(name: string, policy: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  down(): Promise<void>;
  /** Runs the sandbox's etcdctl against its members over TLS; resolves stdout. */
  etcdctl(args: string[]): Promise<string>;
  /** Runs kubectl (FROM) with the admin kubeconfig; resolves stdout. */
  kubectl(args: string[]): Promise<string>;
  /** Polls status() until a machine of this instance reaches one of `states`. */
  waitForMachine(instanceId: string, states: string[], timeoutMs?: number): Promise<MachineStatus>;
}

export async function upSandbox(options: UpOptions = {}): Promise<Sandbox> {
  const log = options.log ?? (() => {});
  const versions = readVersions(REPO_ROOT);
  const known = [versions.from, versions.to];
  const from = resolveVersion(options.from, versions.from, known);
  const to = resolveVersion(options.to, versions.to, known);
  const stateDir = resolve(options.stateDir ?? mkdtempSync(join(tmpdir(), 'kubeswap-sandbox-')));
  if (existsSync(paths(stateDir).daemonPid)) throw new Error(`${stateDir} already holds a sandbox; run down first`);
  ensureDir(stateDir);
  try {
    writeJson(paths(stateDir).plan, await planSandbox(stateDir, from, to, options, log));
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
  await startDaemon(stateDir, log, options.timeoutMs ?? 420_000);
  return attachSandbox(stateDir);
}

/** Sizes, versions and the located (or freshly built) binaries, for the daemon. */
async function planSandbox(
  stateDir: string,
  from: string,
  to: string,
  options: UpOptions,
  log: (line: string) => void,
): Promise<SandboxPlan> {
  return {
    stateDir,
    repoRoot: REPO_ROOT,
    clusterName: options.clusterName ?? 'sandbox',
    controlPlanes: options.controlPlanes ?? 3,
    workers: options.workerPools
      ? Object.values(options.workerPools).reduce((a, b) => a + b, 0)
      : (options.workers ?? 0),
    workerPools: options.workerPools,
    workerGroups: options.workerGroups,
    bootDelaySeconds: options.bootDelaySeconds ?? 2,
    deregistrationDelaySeconds: options.deregistrationDelaySeconds ?? 2,
    terminationDelaySeconds: options.terminationDelaySeconds,
    targetDraining: options.targetDraining,
    kubeadmApi: options.kubeadmApi,
    awsIam: options.awsIam,
    provider: options.provider ?? 'aws-ec2',
    clusterApiControlPlane:
      options.provider === 'cluster-api' ? (options.clusterApiControlPlane ?? 'machines') : undefined,
    clusterApiWorkers: options.provider === 'cluster-api' ? options.clusterApiWorkers : undefined,
    versions: { from, to },
    binaries: {
      etcdDir: await buildComponent(REPO_ROOT, ['etcd'], log),
      kwokDir: await buildComponent(REPO_ROOT, ['kwok'], log),
      kwokModuleDir: await kwokModuleDir(REPO_ROOT),
      clusterApiDir: await buildComponent(REPO_ROOT, ['cluster-api'], log),
      clusterApiManagersDir:
        options.provider === 'cluster-api' ? await buildComponent(REPO_ROOT, ['cluster-api-managers'], log) : undefined,
      kubernetes: {
        [from]: await buildComponent(REPO_ROOT, ['kubernetes', from, ...FROM_BINARIES], log),
        [to]: await buildComponent(REPO_ROOT, ['kubernetes', to, ...TO_BINARIES], log),
      },
    },
    ownerPid: options.ownerPid,
    ownerOnlyUntilReady: options.ownerOnlyUntilReady,
    apiServerArgs: options.apiServerArgs,
    controllerManagerArgs: options.controllerManagerArgs,
  };
}

async function startDaemon(stateDir: string, log: (line: string) => void, timeoutMs: number): Promise<void> {
  const dir = paths(stateDir);
  const out = openSync(join(ensureDir(dir.logs), 'daemon.log'), 'a');
  const daemon = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'integration/sandbox/daemon.ts'), stateDir],
    {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', out, out],
    },
  );
  daemon.unref();
  log(`daemon ${daemon.pid} bringing the sandbox up (log: ${join(dir.logs, 'daemon.log')})`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(dir.ready)) return;
    const failed = existsSync(dir.failed) || !isAlive(daemon.pid!);
    if (failed || Date.now() > deadline) {
      const why = existsSync(dir.failed)
        ? readFileSync(dir.failed, 'utf8').trim()
        : failed
          ? 'daemon exited'
          : 'timeout';
      const tail = readFileSync(join(dir.logs, 'daemon.log'), 'utf8').split('\n').slice(-30).join('\n');
      await downSandbox(stateDir);
      throw new Error(`sandbox up failed: ${why}\n${tail}`);
    }
    await sleep(500);
  }
}

/** A handle on an existing sandbox (e.g. one `npm run sandbox -- up` made). */
export function attachSandbox(stateDir: string): Sandbox {
  const dir = paths(stateDir);
  const description = readJson<SandboxDescription>(dir.description);
  const control = async (path: string, body?: unknown) => {
    const res = await fetch(`${description.control}${path}`, {
      method: body ? 'POST' : 'GET',
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as { error?: string };
    if (!res.ok) throw new Error(json.error ?? `control ${path}: HTTP ${res.status}`);
    return json;
  };
  const plan = readJson<SandboxPlan>(dir.plan);
  const sandbox: Sandbox = {
    ...description,
    refresh: () => readJson<SandboxDescription>(dir.description),
    status: async () => (await control('/status')) as unknown as SandboxStatus,
    fault: async (request) => ((await control('/fault', request)) as { applied: string }).applied,
    awsForgetTerminated: async () => ((await control('/aws/forget-terminated', {})) as { forgotten: number }).forgotten,
    awsRequests: async () =>
      ((await control('/aws/kubeswap-requests')) as { requests: { action: string; at: number }[] }).requests,
    awsIamUser: async (name, policy) =>
      (await control('/aws/iam-user', { name, policy })) as { accessKeyId: string; secretAccessKey: string },
    awsLoseRunInstancesResponses: async (count) =>
      ((await control('/aws/lose-run-instances-responses', { count })) as { lost: string[] }).lost,
    down: () => downSandbox(stateDir),
    etcdctl: async (args) => {
      const d = readJson<SandboxDescription>(dir.description);
      const tls = [`--cacert=${d.etcd.caFile}`, `--cert=${d.etcd.certFile}`, `--key=${d.etcd.keyFile}`];
      const { stdout } = await run(join(plan.binaries.etcdDir, 'etcdctl'), [
        `--endpoints=${d.etcd.endpoints.join(',')}`,
        ...tls,
        ...args,
      ]);
      return stdout;
    },
    kubectl: async (args) => {
      const kubectl = join(plan.binaries.kubernetes[plan.versions.from]!, 'kubectl');
      const { stdout } = await run(kubectl, ['--kubeconfig', description.kubeconfig, ...args]);
      return stdout;
    },
    waitForMachine: async (instanceId, states, timeoutMs = 180_000) =>
      waitFor(
        `machine ${instanceId} to be ${states.join(' or ')}`,
        async () => {
          const m = (await sandbox.status()).machines.find((x) => x.instanceId === instanceId);
          return m && states.includes(m.state) ? m : undefined;
        },
        timeoutMs,
        500,
      ),
  };
  return sandbox;
}

/** Stops every process of the sandbox (its process group) and removes the state dir. */
export async function downSandbox(stateDir: string, graceMs = 10_000): Promise<void> {
  const dir = paths(stateDir);
  const daemonPid = existsSync(dir.daemonPid) ? Number(readFileSync(dir.daemonPid, 'utf8').trim()) : undefined;
  const groupAlive = () => daemonPid !== undefined && signalGroup(daemonPid, 0);
  if (daemonPid) signalGroup(daemonPid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive() && Date.now() < deadline) await sleep(200);
  if (daemonPid) signalGroup(daemonPid, 'SIGKILL');
  // Anything that left the group (it should not) is still named by its pid file.
  for (const pid of Object.values(readPidFiles(dir.pids))) {
    if (isAlive(pid) && ownedBy(pid, stateDir)) process.kill(pid, 'SIGKILL');
  }
  rmSync(stateDir, { recursive: true, force: true });
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Only kill a recorded pid when its command line still names this sandbox (pids get reused). */
function ownedBy(pid: number, stateDir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir);
  } catch {
    return false;
  }
}
