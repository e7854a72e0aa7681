// The aws-ec2 provider's section of the configuration (`provider: {name: aws-ec2, ...}` and its flags).
// Kept beside the other settings until providers contribute their section through the contract.
import type { Problem } from '../../domain/errors.ts';
import { inProvider, type SettingSpec, setting } from './spec.ts';

export const awsEc2Settings: SettingSpec[] = [
  setting({
    key: 'region',
    flag: 'region',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'AWS region',
    defaultText: '$AWS_REGION, $AWS_DEFAULT_REGION, the region of $AWS_PROFILE, as the AWS CLI',
    value: (v) => v.text(),
    file: inProvider('region'),
  }),
  setting({
    key: 'awsEndpoint',
    flag: 'aws-endpoint',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'AWS endpoint override (testing)',
    value: (v) => v.z.url({ message: '{name} {value} is not a URL' }),
    file: inProvider('endpoint'),
  }),
  setting({
    key: 'launchTemplate',
    flag: 'launch-template',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'launch template id or name for control-plane machines',
    value: (v) => v.text(),
    file: inProvider('launchTemplate'),
  }),
  setting({
    key: 'launchTemplateVersion',
    flag: 'launch-template-version',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: '$Default, $Latest or a number',
    defaultText: '$Default',
    value: (v) =>
      v.z.union([
        v.z.literal('$Default'),
        v.z.literal('$Latest'),
        v.z.string().regex(/^\d+$/),
        // YAML reads `launchTemplateVersion: 3` as a number
        v.z.number().int().positive().transform(String),
      ]),
    invalid: '{name} must be $Default, $Latest or a version number, got {value}',
    file: inProvider('launchTemplateVersion'),
  }),
  setting({
    key: 'targetGroupArn',
    flag: 'target-group-arn',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'ELBv2 target group of the kube-apiservers',
    value: (v) => v.text(),
    file: inProvider('targetGroupArn'),
  }),
  setting({
    key: 'clusterName',
    flag: 'cluster-name',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'cluster name in kubernetes.io/cluster/<name> tags',
    value: (v) => v.text(),
    file: inProvider('clusterName'),
  }),
  setting({
    key: 'imageOwners',
    flag: 'image-owners',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'comma-separated accounts whose AMIs are searched for the version tag (a build account that shares them)',
    defaultText: 'self',
    value: (v) =>
      v.z
        .union([v.z.string(), v.z.array(v.z.string())])
        .transform((x) => (Array.isArray(x) ? x : x.split(',')).map((s) => s.trim()).filter(Boolean))
        .pipe(v.z.array(v.z.string().regex(/^(self|amazon|aws-marketplace|\d{12})$/)).min(1)),
    invalid: '{name} must be self, amazon, aws-marketplace or 12-digit account ids, got {value}',
    file: inProvider('imageOwners'),
  }),
  setting({
    key: 'deregistrationDelaySeconds',
    scope: 'global',
    group: 'provider',
    kind: 'number',
    describe: 'seconds to wait after deregistering an old machine from the target group (default: the group delay)',
    value: (v) => v.z.number().int().nonnegative(),
    invalid: '{name} must be a whole number of seconds, got {value}',
    file: inProvider('deregistrationDelaySeconds'),
  }),
];

/** Settings the aws-ec2 provider cannot work without, for the commands that reach it. */
export function awsEc2Problems(values: Record<string, unknown>): Problem[] {
  return values['launchTemplate']
    ? []
    : [{ code: 'input.launch-template', message: 'the aws-ec2 provider needs --launch-template (id or name)' }];
}
