// Builds the engine's ports from validated settings: the one place that knows which adapter
// implements which port.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { loadProvider, loadWorkloadKubeconfig } from '../../../providers/index.ts';
import { openEtcd } from '../../adapters/etcd/client.ts';
import { openKube } from '../../adapters/kube/client.ts';
import { openApiProbe } from '../../adapters/kube/probe.ts';
import { openKubeReadiness } from '../../adapters/kube/readiness.ts';
import { openSecretBytes } from '../../adapters/kube/secret-bytes.ts';
import { servingCertificate } from '../../adapters/tls/serving-certificate.ts';
import { systemClock } from '../../domain/clock.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { EventSink } from '../../domain/events.ts';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions, type Ports } from '../../engine/ports.ts';
import { readProgress } from '../../engine/run/progress.ts';
import type { KubePort } from '../../ports/kube.ts';
import type { ReadinessPort } from '../../ports/readiness.ts';
import type { Settings } from '../config/settings.ts';

export interface Wired {
  ports: Ports;
  close(): void;
}

export function openKubeFor(settings: Settings): KubePort {
  return openKube({ kubeconfig: settings.kubeconfig, context: settings.context });
}

/** Private temporary folders of workload kubeconfigs: `kubeswap-<pid>-XXXXXX` (mkdtemp adds the suffix). */
const WORKLOAD_DIR = /^kubeswap-(\d+)-[A-Za-z0-9]{6}$/;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a live process of another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Removes the workload-kubeconfig folders of kubeswap processes that are gone (a kill -9 skips `cleanup`), so an
 * admin credential does not outlive its run for long. Only folders this user can remove, of dead pids; a reused pid
 * keeps its folder until a later run.
 */
export function removeStaleWorkloadKubeconfigs(dir = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const pid = WORKLOAD_DIR.exec(name)?.[1];
    if (!pid || Number(pid) === process.pid || alive(Number(pid))) continue;
    const folder = path.join(dir, name);
    if (!existsSync(path.join(folder, 'workload.kubeconfig'))) continue;
    rmSync(folder, { recursive: true, force: true });
    removed.push(folder);
  }
  return removed;
}

/**
 * Without --kubeconfig, a provider that knows the workload cluster's kubeconfig (cluster-api: the
 * `<cluster>-kubeconfig` Secret) supplies it: written 0600 into a private temporary folder for this process only
 * (the Kubernetes clients read a file), removed by `cleanup`, or by the next run if this one is killed.
 */
export async function withWorkloadKubeconfig(settings: Settings): Promise<{ settings: Settings; cleanup: () => void }> {
  const none = { settings, cleanup: () => {} };
  if (settings.kubeconfig) return none;
  const text = await loadWorkloadKubeconfig(settings.provider.name, {
    settings: settings.provider,
    pollIntervalMs: settings.pollIntervalMs,
    env: process.env,
  });
  if (text === undefined) return none;
  removeStaleWorkloadKubeconfigs();
  const dir = mkdtempSync(path.join(tmpdir(), `kubeswap-${process.pid}-`));
  const file = path.join(dir, 'workload.kubeconfig');
  writeFileSync(file, text, { mode: 0o600 });
  return { settings: { ...settings, kubeconfig: file }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function wire(settings: Settings, emit: EventSink, kube = openKubeFor(settings)): Promise<Wired> {
  const endpoints = settings.etcd.endpoints.length > 0 ? settings.etcd.endpoints : await kube.etcdClientUrls();
  if (endpoints.length === 0) {
    throw new KubeswapError(
      'invalid',
      'etcd.no-endpoints',
      'no etcd endpoints given and none found on the etcd static pods',
      {
        hint: 'pass --etcd-endpoints https://<ip>:2379[,...]',
      },
    );
  }
  const tls =
    settings.etcd.ca && settings.etcd.cert && settings.etcd.key
      ? {
          ca: readFileSync(settings.etcd.ca),
          cert: readFileSync(settings.etcd.cert),
          key: readFileSync(settings.etcd.key),
        }
      : undefined;
  // Configured endpoints may all be gone on a re-run (an earlier run replaced every member they name): the etcd
  // static pods then say where the current members listen. Only while an upgrade is in progress (its record in
  // kube-system says `running`): on a first run, endpoints that do not answer are a bad input, refused with nothing
  // changed, never silently replaced by others (a finished run's record stays, as `finished`).
  const fallback =
    settings.etcd.endpoints.length > 0
      ? {
          source: 'found on the etcd static pods',
          endpoints: async () => ((await readProgress(kube))?.state === 'running' ? kube.etcdClientUrls() : undefined),
        }
      : undefined;
  const etcd = openEtcd({ endpoints, tls, ...(fallback ? { fallback } : {}) });
  const provider = await loadProvider(settings.provider.name, {
    settings: settings.provider,
    pollIntervalMs: Math.min(settings.pollIntervalMs, 2000),
    env: process.env,
  }).catch((err: unknown) => {
    etcd.close();
    throw err;
  });
  const readiness: ReadinessPort = {
    ...openKubeReadiness({ kubeconfig: settings.kubeconfig, context: settings.context }),
    servingCertificate: (url) => servingCertificate(url),
    etcdStatus: () => etcd.statuses(),
  };
  const probe = openApiProbe({ kubeconfig: settings.kubeconfig, context: settings.context });
  return {
    ports: { kube, etcd, provider, clock: systemClock, emit, readiness, probe },
    close: () => {
      probe.close();
      etcd.close();
      provider.destroy?.();
      kube.close();
    },
  };
}

export function engineOptions(settings: Settings): EngineOptions {
  const r = settings.render;
  return {
    render:
      settings.userData === 'render'
        ? {
            tokenTtlSeconds: Math.round(r.tokenTtlMs / 1000),
            bootstrapSecrets: r.bootstrapSecrets,
            certificateKey: r.certificateKey,
            pkiDir: r.pkiDir,
            caCertPem: r.caCert ? readFileSync(r.caCert, 'utf8') : undefined,
            secretBytes: r.pkiDir
              ? openSecretBytes({ kubeconfig: settings.kubeconfig, context: settings.context })
              : undefined,
          }
        : undefined,
    ...DEFAULT_ENGINE_OPTIONS,
    maxSurge: settings.maxSurge,
    gatePasses: settings.gatePasses,
    gateTimeoutMs: settings.gateTimeoutMs,
    machineTimeoutMs: settings.machineTimeoutMs,
    drainTimeoutMs: settings.drainTimeoutMs,
    deregisterTimeoutMs: settings.deregistrationTimeoutMs,
    terminateTimeoutMs: settings.terminationTimeoutMs,
    pollIntervalMs: settings.pollIntervalMs,
    snapshotDir: snapshotDirFor(settings),
    dryRun: settings.dryRun,
    skipAddons: settings.skipAddons,
    addonTimeoutMs: settings.addonTimeoutMs,
    ...poolOptions(settings),
  };
}

/** The worker pools a run rolls (config order; --pools picks), and which part of the cluster it replaces. */
export function poolOptions(
  settings: Settings,
): Pick<EngineOptions, 'pools' | 'scope' | 'poolIntervalMs' | 'deleteEmptyDirData'> {
  const picked = settings.pools;
  return {
    pools: settings.workerPools
      .filter((p) => !picked || picked.includes(p.name))
      .map(({ name, maxSurge, maxUnavailable, keepStrategy }) => ({
        name,
        maxSurge,
        maxUnavailable,
        ...(keepStrategy ? { keepStrategy } : {}),
      })),
    scope: settings.controlPlaneOnly ? 'control-plane' : settings.workersOnly ? 'workers' : 'all',
    poolIntervalMs: settings.poolIntervalMs,
    deleteEmptyDirData: settings.deleteEmptyDirData,
  };
}

/**
 * The etcd snapshot holds every Secret of the cluster: by default it goes to ~/.kubeswap/snapshots/<cluster>/, away
 * from the working directory (often a git checkout). The etcd adapter creates the folder 0700 and the file 0600.
 */
export function snapshotDirFor(settings: Settings, home = homedir()): string {
  if (settings.snapshotDir) return settings.snapshotDir;
  const cluster = String(settings.provider['clusterName'] ?? settings.context ?? 'default').replace(/[^\w.-]+/g, '_');
  return path.join(home, '.kubeswap', 'snapshots', cluster);
}

/** The git checkout a folder lies in (its top), if any: a snapshot there is one `git add .` from being pushed. */
export function gitCheckoutOf(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}
