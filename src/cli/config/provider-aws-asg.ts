// The aws-asg provider's section (`provider: {name: aws-asg, autoScalingGroup: NAME, ...}`): the group replaces
// the launch template; region, endpoint, cluster name, target group and deregistration delay are the very same
// settings as aws-ec2's (one flag each, whichever provider is picked).
import type { Problem } from '../../domain/errors.ts';
import { awsEc2Settings } from './provider-aws-ec2.ts';
import { inProvider, type SettingSpec, setting } from './spec.ts';

const SHARED = new Set(['region', 'awsEndpoint', 'clusterName', 'targetGroupArn', 'deregistrationDelaySeconds']);

export const awsAsgSettings: SettingSpec[] = [
  ...awsEc2Settings.filter((s) => SHARED.has(s.key)),
  setting({
    key: 'autoScalingGroup',
    flag: 'auto-scaling-group',
    scope: 'global',
    group: 'provider',
    kind: 'string',
    describe: 'aws-asg: name of the Auto Scaling group of the control-plane machines',
    value: (v) => v.text(),
    file: inProvider('autoScalingGroup'),
  }),
  setting({
    key: 'updateLaunchTemplate',
    flag: 'update-launch-template',
    scope: 'upgrade',
    group: 'provider',
    kind: 'boolean',
    describe: "aws-asg: make a launch template version with the target image (default: the group's newest version)",
    default: false,
    value: (v) => v.z.boolean(),
    file: inProvider('updateLaunchTemplate'),
  }),
];

/** Settings the aws-asg provider cannot work without, for the commands that reach it. */
export function awsAsgProblems(values: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  if (!values['autoScalingGroup']) {
    problems.push({ code: 'input.auto-scaling-group', message: 'the aws-asg provider needs --auto-scaling-group' });
  }
  if (!values['clusterName']) {
    problems.push({
      code: 'input.cluster-name',
      message: 'the aws-asg provider needs --cluster-name (the group is checked for kubernetes.io/cluster/<name>)',
    });
  }
  return problems;
}
