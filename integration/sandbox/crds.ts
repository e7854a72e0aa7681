// Cluster API CRDs (Machine, MachineSet, MachineDeployment, KubeadmControlPlane, KubeadmConfig, ...) read from the
// Go module cache at run time. They are created, not client-side applied: the KCP CRD exceeds the 256 KiB
// last-applied annotation limit.

import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { retrying } from './processes.ts';

const run = promisify(execFile);

const CRD_DIRS = [
  'core/config/crd/bases',
  'config/crd/bases',
  'controlplane/kubeadm/config/crd/bases',
  'bootstrap/kubeadm/config/crd/bases',
];

export function clusterApiCrdFiles(moduleDir: string): string[] {
  const files: string[] = [];
  for (const dir of CRD_DIRS) {
    let names: string[] = [];
    try {
      names = readdirSync(join(moduleDir, dir));
    } catch {
      continue; // config/crd/bases moved to core/ in v1.14
    }
    files.push(...names.filter((n) => n.endsWith('.yaml')).map((n) => join(moduleDir, dir, n)));
  }
  return files;
}

/** The sandbox's own infrastructure provider's CRDs (SandboxCluster, SandboxMachine, SandboxMachineTemplate). */
export const SANDBOX_INFRA_CRDS = fileURLToPath(new URL('./infrastructure/crds.yaml', import.meta.url));

export async function installSandboxInfraCrds(
  kubectl: string,
  kubeconfig: string,
  log: (l: string) => void,
): Promise<void> {
  const args = ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--field-manager=kubeswap-sandbox'];
  await retrying(() => run(kubectl, [...args, '-f', SANDBOX_INFRA_CRDS]), 3, 2000);
  await retrying(
    () => run(kubectl, ['--kubeconfig', kubeconfig, 'wait', '--for=condition=Established', '-f', SANDBOX_INFRA_CRDS]),
    3,
    2000,
  );
  log('crds: sandbox infrastructure provider CRDs installed');
}

/**
 * Server-side apply with the real kubectl: @kubernetes/client-node's typed serializer would drop the CRDs'
 * `x-kubernetes-*` schema keys (they arrive dashed from YAML), which the apiserver then rejects.
 */
export async function installClusterApiCrds(
  kubectl: string,
  kubeconfig: string,
  moduleDir: string,
  log: (l: string) => void,
): Promise<void> {
  const files = clusterApiCrdFiles(moduleDir);
  if (files.length === 0) throw new Error(`no Cluster API CRDs under ${moduleDir}`);
  const args = ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--field-manager=kubeswap-sandbox'];
  await retrying(
    () => run(kubectl, [...args, ...files.flatMap((f) => ['-f', f])], { maxBuffer: 16 * 1024 * 1024 }),
    3,
    2000,
  );
  // The release manifests label the providers' CRDs with the contract versions they implement (kustomization.yaml
  // `labels` in bootstrap/kubeadm and controlplane/kubeadm config/crd); the core controller finds a bootstrap
  // config's version through them ("cannot find any versions matching contract versions" without).
  const providerCrds = files.filter((f) => PROVIDER_CRD_DIRS.some((d) => f.includes(`/${d}/`))).map(crdNameOf);
  await retrying(
    () =>
      run(kubectl, [
        '--kubeconfig',
        kubeconfig,
        'label',
        '--overwrite',
        'crd',
        ...providerCrds,
        'cluster.x-k8s.io/v1beta1=v1beta1',
        'cluster.x-k8s.io/v1beta2=v1beta2',
      ]),
    3,
    2000,
  );
  log(`crds: ${files.length} Cluster API CRDs installed`);
}

const PROVIDER_CRD_DIRS = ['controlplane/kubeadm/config/crd/bases', 'bootstrap/kubeadm/config/crd/bases'];

/** `bootstrap.cluster.x-k8s.io_kubeadmconfigs.yaml` (controller-gen's file name) -> `kubeadmconfigs.bootstrap.cluster.x-k8s.io`. */
export function crdNameOf(file: string): string {
  const [group, plural] = basename(file, '.yaml').split('_');
  return `${plural}.${group}`;
}
