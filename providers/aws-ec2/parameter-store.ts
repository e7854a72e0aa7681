// Bootstrap secrets in AWS Systems Manager Parameter Store (`--bootstrap-secrets ssm`): render mode puts each
// replacement's JoinConfiguration (join token, certificate key) in a SecureString parameter and the user data
// only says which one to read, as Cluster API's AWS provider does with its secret backends. User data is readable
// with ec2:DescribeInstanceAttribute for as long as the instance exists; a parameter lives until the run deletes it,
// and reading it takes ssm:GetParameter on that name plus kms:Decrypt, which the machine's instance profile holds.
// https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-securestring.html
import type { SSMClient, SSMClientConfig } from '@aws-sdk/client-ssm';
import type { BootstrapSecretStore } from '../../src/ports/secrets.ts';
import { awsErrorName, wrapAwsError } from './errors.ts';
import type { AwsCall } from './retry.ts';

/** Parameter names allow a-zA-Z0-9_.-/ only; a cluster name with anything else keeps a readable, unique form. */
function pathSegment(value: string): string {
  return value.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

/**
 * The store, with its SSM client loaded at its first use: the SDK module costs about 30 MB and 0.1 s of CPU at
 * startup, and only render mode with `--bootstrap-secrets ssm` (or a resumed run of it) uses it (issue 15 §3).
 */
export function parameterStore(
  clientConfig: SSMClientConfig,
  call: AwsCall,
  /** undefined: the SDK's region chain (AWS_PROFILE, instance metadata), resolved at the first put. */
  region: string | undefined,
  clusterName: string,
): BootstrapSecretStore & { destroy(): void } {
  let client: SSMClient | undefined;
  let loading: Promise<{ sdk: typeof import('@aws-sdk/client-ssm'); ssm: SSMClient }> | undefined;
  const load = () => {
    loading ??= import('@aws-sdk/client-ssm').then((sdk) => {
      client = new sdk.SSMClient(clientConfig);
      return { sdk, ssm: client };
    });
    return loading;
  };
  let resolvedRegion = region;
  const root = `/kubeswap/${pathSegment(clusterName)}`;
  const full = (name: string) => `${root}/${name.split('/').map(pathSegment).join('/')}`;
  const attempt = <T>(action: string, fn: () => Promise<T>) =>
    call(action, fn).catch((error: unknown) => {
      throw wrapAwsError(action, error);
    });
  return {
    kind: 'ssm',
    destroy: () => client?.destroy(),
    async put(name, value) {
      const {
        ssm,
        sdk: { PutParameterCommand },
      } = await load();
      // The machine's AWS CLI is told the region explicitly: fetchLines (called after put) needs it resolved.
      resolvedRegion ??= await ssm.config.region().catch((error: unknown) => {
        throw wrapAwsError('resolve the AWS region', error);
      });
      // Standard tier (4 KB, no charge): a JoinConfiguration with its secrets is well under 2 KB. Tags cannot be
      // combined with Overwrite, and the path already says whose it is.
      await attempt(`store bootstrap secret ${full(name)}`, () =>
        ssm.send(
          new PutParameterCommand({
            Name: full(name),
            Value: value,
            Type: 'SecureString',
            Overwrite: true,
            Tier: 'Standard',
            Description:
              'kubeswap: one replacement machine joins with this; deleted when it has joined or the run ends',
          }),
        ),
      );
    },
    async delete(name) {
      const {
        ssm,
        sdk: { DeleteParameterCommand },
      } = await load();
      try {
        await call(`delete bootstrap secret ${full(name)}`, () =>
          ssm.send(new DeleteParameterCommand({ Name: full(name) })),
        );
        return 'deleted';
      } catch (error) {
        if (awsErrorName(error) === 'ParameterNotFound') return 'gone';
        throw wrapAwsError(`delete bootstrap secret ${full(name)}`, error);
      }
    },
    async list(runId) {
      const {
        ssm,
        sdk: { GetParametersByPathCommand },
      } = await load();
      const path = runId ? full(runId) : root;
      const names: string[] = [];
      let NextToken: string | undefined;
      do {
        const page = await attempt(`list bootstrap secrets under ${path}`, () =>
          ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: true, NextToken, MaxResults: 10 })),
        );
        for (const p of page.Parameters ?? []) if (p.Name) names.push(p.Name.slice(root.length + 1));
        NextToken = page.NextToken;
      } while (NextToken);
      return names;
    },
    fetchLines(name, path) {
      // The AWS CLI on the machine signs with the instance profile's credentials (from IMDS); --output text
      // prints the value as stored, newlines included.
      return [
        `(umask 077 && aws ssm get-parameter --region ${resolvedRegion} --name '${full(name)}' --with-decryption --query Parameter.Value --output text > ${path})`,
      ];
    },
  };
}
