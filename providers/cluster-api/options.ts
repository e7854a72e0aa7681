// Settings of the Cluster API provider (`provider: {name: cluster-api, kubeconfig, namespace, clusterName, ...}`),
// validated at once: every problem is reported together, before the management cluster is reached.
import { KubeswapError } from '../../src/domain/errors.ts';
import { type JsonPatch, patchProblem } from './clone.ts';
import type { MachineDeploymentPool } from './machine-deployments.ts';

export interface ClusterApiOptions {
  /** The management cluster's kubeconfig (may be the workload cluster itself, self-hosted); default: the usual lookup. */
  kubeconfig?: string;
  context?: string;
  /** Namespace of the Cluster and its Machines. */
  namespace: string;
  clusterName: string;
  /** RFC 6902 JSON Patch applied to every cloned infrastructure machine (paths from the object root). */
  infrastructurePatches: JsonPatch;
  /** RFC 6902 JSON Patch applied to every cloned KubeadmConfig. */
  bootstrapPatches: JsonPatch;
  pollIntervalMs: number;
  /** Worker pools: the MachineDeployments each one rolls (the `workerPools` of the configuration). */
  pools?: MachineDeploymentPool[];
}

export function clusterApiOptions(
  settings: Readonly<Record<string, unknown>>,
  pollIntervalMs: number,
): ClusterApiOptions {
  const problems: string[] = [];
  const text = (key: string) => {
    const v = settings[key];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') problems.push(`${key} must be a string`);
    return typeof v === 'string' ? v : undefined;
  };
  const patch = (key: string): JsonPatch => {
    const v = settings[key] ?? [];
    const problem = patchProblem(v, key);
    if (problem) problems.push(problem);
    return problem ? [] : (v as JsonPatch);
  };
  const clusterName = text('clusterName');
  if (!clusterName) problems.push('clusterName (the Cluster object of the workload cluster) is required');
  const options: ClusterApiOptions = {
    kubeconfig: text('kubeconfig'),
    context: text('context'),
    namespace: text('namespace') ?? 'default',
    clusterName: clusterName ?? '',
    infrastructurePatches: patch('infrastructurePatches'),
    bootstrapPatches: patch('bootstrapPatches'),
    pollIntervalMs,
    pools: poolsOf(settings['pools'], problems),
  };
  if (problems.length > 0) {
    throw new KubeswapError(
      'invalid',
      'input.cluster-api',
      `invalid cluster-api provider settings: ${problems.join('; ')}`,
      {
        problems: problems.map((message) => ({ code: 'input.cluster-api', message })),
      },
    );
  }
  return options;
}

/** `workerPools[].machineDeployment`: one name, or absent for every MachineDeployment of the cluster. */
function poolsOf(value: unknown, problems: string[]): MachineDeploymentPool[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push('pools must be a list');
    return [];
  }
  const pools = value as { name?: unknown; machineDeployment?: unknown }[];
  const all = pools.filter((p) => p.machineDeployment === undefined);
  if (all.length > 1 || (all.length === 1 && pools.length > 1)) {
    problems.push(
      'a worker pool without machineDeployment takes every MachineDeployment of the cluster: give each pool its machineDeployment when there are several',
    );
  }
  return pools.map((p) => ({
    name: String(p.name),
    ...(typeof p.machineDeployment === 'string' ? { machineDeployments: [p.machineDeployment] } : {}),
  }));
}
