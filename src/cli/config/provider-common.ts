// Settings of the `provider:` section every provider shares: how machines get their kubeadm join, and the image
// per Kubernetes version.
import { inProvider, type SettingSpec, setting } from './spec.ts';

export const providerCommonSettings: SettingSpec[] = [
  setting({
    key: 'userData',
    flag: 'user-data',
    scope: 'upgrade',
    group: 'render',
    kind: 'string',
    choices: ['launch-template', 'render'],
    describe: 'launch-template: the image bootstraps itself; render: kubeswap renders the kubeadm join',
    default: 'launch-template',
    value: (v) => v.z.enum(['launch-template', 'render']),
    file: inProvider('userData'),
    code: 'input.user-data',
  }),
  setting({
    key: 'bootstrapSecrets',
    flag: 'bootstrap-secrets',
    scope: 'upgrade',
    group: 'render',
    kind: 'string',
    choices: ['user-data', 'ssm'],
    describe:
      'render mode: where the join token and certificate key travel; ssm: an SSM SecureString parameter the machine reads at boot, deleted after',
    default: 'user-data',
    value: (v) => v.z.enum(['user-data', 'ssm']),
    file: inProvider('bootstrapSecrets'),
    code: 'input.bootstrap-secrets',
  }),
  setting({
    key: 'images',
    scope: 'global',
    group: 'provider',
    kind: 'map',
    describe: 'image per Kubernetes version, e.g. {v1.37.2: ami-0abc} (default: the image tagged with the version)',
    value: (v) => v.z.record(v.z.string(), v.z.string()),
    invalid: '{name} must map versions to image ids',
    file: inProvider('images'),
  }),
];
