// The cluster-api provider's section (`provider: {name: cluster-api, kubeconfig, namespace, clusterName, ...}`):
// the management cluster, where the Cluster lives, and the JSON Patches for the clones. The provider reads the
// same keys (providers/cluster-api/options.ts) and checks the patches' shape again.
import type { Problem } from '../../domain/errors.ts';
import { awsEc2Settings } from './provider-aws-ec2.ts';
import { inProvider, type SettingSpec, setting } from './spec.ts';

const patch = (key: string, what: string) =>
  setting({
    key,
    scope: 'upgrade',
    group: 'provider',
    kind: 'map',
    describe: `cluster-api: RFC 6902 JSON Patch applied to every cloned ${what} (paths from the object root, e.g. /spec/...)`,
    value: (v) => v.z.array(v.z.object({ op: v.z.string(), path: v.z.string() }).passthrough()),
    invalid: '{name} must be a JSON Patch: a list of {op, path, value?, from?}',
    file: inProvider(key),
  });

export const clusterApiSettings: SettingSpec[] = [
  ...awsEc2Settings.filter((s) => s.key === 'clusterName'),
  setting({
    key: 'managementKubeconfig',
    flag: 'management-kubeconfig',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'cluster-api: kubeconfig of the management cluster (may be the workload cluster itself)',
    defaultText: '$KUBECONFIG, ~/.kube/config',
    value: (v) => v.existingFile(),
    file: inProvider('kubeconfig'),
    path: true,
  }),
  setting({
    key: 'clusterNamespace',
    flag: 'cluster-namespace',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'cluster-api: namespace of the Cluster and its Machines in the management cluster',
    default: 'default',
    value: (v) => v.text(),
    file: inProvider('namespace'),
  }),
  patch('infrastructurePatches', 'infrastructure machine'),
  patch('bootstrapPatches', 'KubeadmConfig'),
];

/** Settings the cluster-api provider cannot work without, for the commands that reach it. */
export function clusterApiProblems(values: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  if (!values['clusterName']) {
    problems.push({
      code: 'input.cluster-name',
      message: 'the cluster-api provider needs --cluster-name (the Cluster object in the management cluster)',
    });
  }
  // Cluster API's kubeadm bootstrap provider renders the join: kubeswap's user data has no way onto the machine.
  if (values['userData'] === 'render') {
    problems.push({
      code: 'input.user-data',
      message: "the cluster-api provider's machines are bootstrapped by Cluster API: --user-data render cannot apply",
      hint: 'keep --user-data launch-template (the default)',
    });
  }
  return problems;
}
