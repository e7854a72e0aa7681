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
  Condition?: Record<string, Record<string, string>>;
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
