// The shipped IAM policy of the launch-template mode, filled in for a sandbox as moto can evaluate it (issue 9 §8):
// moto 5.2.1 checks a request's action against the resource `*` only (integration/AWS-EMULATION.md), so every
// statement's Resource becomes `*` and the action lists are what the scenarios prove complete.
import { readFileSync } from 'node:fs';
import type { Sandbox } from '../sandbox/index.ts';

const TEMPLATE = new URL('../../templates/iam/aws-ec2-launch-template.json', import.meta.url);
/** moto's one account. */
const ACCOUNT_ID = '123456789012';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: unknown;
}

/** The shipped policy for this sandbox's cluster, placeholders filled, as moto can evaluate it (resources `*`). */
export function policyFor(sb: Sandbox, drop?: string): string {
  const targetGroupName = /targetgroup\/([^/]+)\//.exec(sb.aws.targetGroupArn)![1]!;
  const text = readFileSync(TEMPLATE, 'utf8')
    .replaceAll('REGION', sb.aws.region)
    .replaceAll('ACCOUNT_ID', ACCOUNT_ID)
    .replaceAll('CLUSTER_NAME', sb.clusterName)
    .replaceAll('LAUNCH_TEMPLATE_ID', sb.aws.launchTemplateId)
    .replaceAll('TARGET_GROUP_NAME', targetGroupName)
    .replaceAll('CONTROL_PLANE_INSTANCE_ROLE', 'kubeswap-sandbox-control-plane');
  const policy = JSON.parse(text) as { Version: string; Statement: Statement[] };
  const statements = policy.Statement.map((s) => ({
    ...s,
    Resource: '*',
    Action: [s.Action].flat().filter((a) => a !== drop),
  })).filter((s) => s.Action.length > 0);
  return JSON.stringify({ ...policy, Statement: statements });
}
