import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/**
 * Every AWS API call the aws-ec2 provider makes, as its IAM action: `new XCommand(` in its source. The SSM calls
 * (`--bootstrap-secrets ssm`) are made in render mode only.
 */
function actionsCalled(mode: 'launch-template' | 'render'): string[] {
  const actions = new Set<string>();
  for (const file of readdirSync(new URL('providers/aws-ec2/', root)).filter((f) => f.endsWith('.ts'))) {
    const text = read(`providers/aws-ec2/${file}`);
    const service = text.includes('@aws-sdk/client-elastic-load-balancing-v2')
      ? 'elasticloadbalancing'
      : text.includes('@aws-sdk/client-ssm')
        ? 'ssm'
        : 'ec2';
    if (service === 'ssm' && mode !== 'render') continue;
    for (const m of text.matchAll(/new (\w+)Command\(/g)) {
      // In the shared EC2 port for aws-asg's --update-launch-template only: the aws-ec2 provider never calls it.
      if (m[1] === 'CreateLaunchTemplateVersion') continue;
      actions.add(`${service}:${m[1]}`);
    }
  }
  return [...actions].sort();
}

interface Statement {
  Sid: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

for (const mode of ['launch-template', 'render'] as const) {
  const file = `aws-ec2-${mode}.json`;
  describe(`templates/iam/${file}`, () => {
    const policy = JSON.parse(read(`templates/iam/${file}`)) as { Version: string; Statement: Statement[] };
    const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

    it('allows every call the aws-ec2 provider makes, and only those (plus tagging at launch and PassRole)', () => {
      const allowed = new Set(policy.Statement.flatMap((s) => list(s.Action)));
      assert.deepEqual(
        [...allowed].filter((a) => a !== 'ec2:CreateTags' && a !== 'iam:PassRole').sort(),
        actionsCalled(mode),
      );
    });

    it('scopes launching, tagging and terminating by the cluster tag', () => {
      const scoped = policy.Statement.filter((s) =>
        JSON.stringify(s.Condition ?? {}).includes('kubernetes.io/cluster/CLUSTER_NAME'),
      );
      assert.deepEqual(scoped.flatMap((s) => list(s.Action)).sort(), ['ec2:RunInstances', 'ec2:TerminateInstances']);
      const tagging = policy.Statement.find((s) => list(s.Action).includes('ec2:CreateTags'))!;
      assert.deepEqual(tagging.Condition, { StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
      assert.ok(
        policy.Statement.every((s) => (s.Resource === '*' ? list(s.Action).every((a) => /:Describe/.test(a)) : true)),
      );
      assert.ok(
        policy.Statement.every((s) =>
          list(s.Action).some((a) => a.startsWith('ssm:'))
            ? list(s.Resource).every((r) => r.includes(':parameter/kubeswap/CLUSTER_NAME'))
            : true,
        ),
        "SSM only on the cluster's parameters",
      );
    });
  });
}

/**
 * The aws-asg provider's calls: the Auto Scaling commands in its source, and the EC2 / ELBv2 port methods called in
 * its source and in the aws-ec2 modules it imports (their `new XCommand` are the ports' methods, mapped here).
 */
function asgActionsCalled(): string[] {
  const actions = new Set<string>();
  const files = readdirSync(new URL('providers/aws-asg/', root)).filter((f) => f.endsWith('.ts'));
  const texts = files.map((f) => read(`providers/aws-asg/${f}`));
  for (const text of texts) for (const m of text.matchAll(/new (\w+)Command\(/g)) actions.add(`autoscaling:${m[1]}`);
  const imported = new Set(
    texts.flatMap((t) => [...t.matchAll(/from '\.\.\/aws-ec2\/([\w-]+)\.ts'/g)].map((m) => m[1]!)),
  );
  const portMethods: Record<string, string> = {
    describeInstances: 'ec2:DescribeInstances',
    terminateInstances: 'ec2:TerminateInstances',
    describeImages: 'ec2:DescribeImages',
    describeLaunchTemplates: 'ec2:DescribeLaunchTemplates',
    describeLaunchTemplateVersions: 'ec2:DescribeLaunchTemplateVersions',
    createLaunchTemplateVersion: 'ec2:CreateLaunchTemplateVersion',
    describeTargetHealth: 'elasticloadbalancing:DescribeTargetHealth',
    registerTargets: 'elasticloadbalancing:RegisterTargets',
    deregisterTargets: 'elasticloadbalancing:DeregisterTargets',
    targetGroupAttributes: 'elasticloadbalancing:DescribeTargetGroupAttributes',
    setTargetGroupAttributes: 'elasticloadbalancing:ModifyTargetGroupAttributes',
  };
  const sources = [
    ...texts,
    ...[...imported].filter((f) => !/port$/.test(f)).map((f) => read(`providers/aws-ec2/${f}.ts`)),
  ];
  for (const text of sources) {
    for (const [method, action] of Object.entries(portMethods)) if (text.includes(`.${method}(`)) actions.add(action);
  }
  return [...actions].sort();
}

describe('templates/iam/aws-asg.json', () => {
  const policy = JSON.parse(read('templates/iam/aws-asg.json')) as { Version: string; Statement: Statement[] };
  const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

  it('allows every call the aws-asg provider makes, and only those (plus the launch template checks and PassRole)', () => {
    const allowed = new Set(policy.Statement.flatMap((s) => list(s.Action)));
    // UpdateAutoScalingGroup with a launch template checks that the caller may run instances from it and tag them
    // (AWS Auto Scaling User Guide, "Amazon EC2 Auto Scaling API permissions").
    const launchChecks = ['ec2:RunInstances', 'ec2:CreateTags', 'iam:PassRole'];
    assert.deepEqual([...allowed].filter((a) => !launchChecks.includes(a)).sort(), asgActionsCalled());
  });

  // Every Auto Scaling write action kubeswap calls takes the autoScalingGroup resource and the
  // autoscaling:ResourceTag/<key> condition (Service Authorization Reference, "Actions, resources, and condition keys
  // for Amazon EC2 Auto Scaling"): one statement covers the control-plane group and every worker pool's group.
  it("scopes the groups' changes to the groups tagged for the cluster (control plane and worker pools), and their tagging to kubeswap's keys", () => {
    const onGroup = policy.Statement.filter((s) =>
      list(s.Action).some((a) => a.startsWith('autoscaling:') && !/:Describe/.test(a)),
    );
    const clusterTag = { 'autoscaling:ResourceTag/kubernetes.io/cluster/CLUSTER_NAME': ['owned', 'shared'] };
    for (const s of onGroup) {
      assert.equal(s.Resource, 'arn:aws:autoscaling:REGION:ACCOUNT_ID:autoScalingGroup:*:autoScalingGroupName/*');
      assert.deepEqual(s.Condition?.['StringEquals'], clusterTag, `${s.Sid}: only the cluster's groups`);
    }
    const writes = onGroup.flatMap((s) => list(s.Action));
    for (const action of asgActionsCalled().filter((a) => a.startsWith('autoscaling:') && !/:Describe/.test(a)))
      assert.ok(writes.includes(action), `${action} on the worker groups too`);
    const tagging = onGroup.find((s) => list(s.Action).includes('autoscaling:CreateOrUpdateTags'))!;
    assert.deepEqual(tagging.Condition?.['ForAllValues:StringEquals'], {
      'aws:TagKeys': ['kubeswap.io/run-id', 'kubeswap.io/replaces', 'kubeswap.io/token'],
    });
    const run = policy.Statement.find((s) => list(s.Action).includes('ec2:RunInstances'))!;
    assert.deepEqual(
      run.Condition,
      {
        ArnLike: {
          'ec2:LaunchTemplate': [
            'arn:aws:ec2:REGION:ACCOUNT_ID:launch-template/LAUNCH_TEMPLATE_ID',
            'arn:aws:ec2:REGION:ACCOUNT_ID:launch-template/WORKER_LAUNCH_TEMPLATE_ID',
          ],
        },
      },
      "RunInstances only from the groups' templates (one WORKER_LAUNCH_TEMPLATE_ID per pool)",
    );
    assert.ok(
      policy.Statement.every((s) =>
        s.Resource === '*' && !s.Condition ? list(s.Action).every((a) => /:Describe/.test(a)) : true,
      ),
    );
  });
});
