// The command-line surface (design.md "Command-line contract"). yargs only parses: no defaults
// here, so settings.ts can layer defaults < file < env < flags itself.
import type { Argv } from 'yargs';

export function globalOptions(y: Argv): Argv {
  return y
    .option('config', { type: 'string', describe: 'YAML config file (same keys as the flags)' })
    .option('kubeconfig', { type: 'string', describe: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)' })
    .option('context', { type: 'string', describe: 'kubeconfig context' })
    .option('etcd-endpoints', {
      type: 'string',
      describe: 'comma-separated https://host:2379 (default: from the etcd static pods)',
    })
    .option('etcd-ca', { type: 'string', describe: 'etcd CA certificate (etcd/ca.crt)' })
    .option('etcd-cert', { type: 'string', describe: 'etcd client certificate (e.g. apiserver-etcd-client.crt)' })
    .option('etcd-key', { type: 'string', describe: 'etcd client key' })
    .option('provider', { type: 'string', describe: 'machine provider (aws-ec2)' })
    .option('region', { type: 'string', describe: 'AWS region' })
    .option('aws-endpoint', { type: 'string', describe: 'AWS endpoint override (testing)' })
    .option('launch-template', { type: 'string', describe: 'launch template id or name for control-plane machines' })
    .option('launch-template-version', { type: 'string', describe: '$Default (default), $Latest or a number' })
    .option('target-group-arn', { type: 'string', describe: 'ELBv2 target group of the kube-apiservers' })
    .option('cluster-name', { type: 'string', describe: 'cluster name in kubernetes.io/cluster/<name> tags' })
    .option('output', {
      type: 'string',
      choices: ['text', 'json'],
      describe: 'text (default) or json (one event per line)',
    })
    .option('summary', { type: 'string', describe: 'write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)' });
}

export function upgradeOptions(y: Argv): Argv {
  return y
    .option('to', { type: 'string', describe: 'target Kubernetes version vX.Y.Z (default: the current one)' })
    .option('image', { type: 'string', describe: 'target machine image (default: the image tagged with the version)' })
    .option('force', { type: 'boolean', describe: 'replace every machine even when it matches' })
    .option('max-surge', { type: 'number', describe: '1 = add then remove (default); 0 = remove then add' })
    .option('machine-timeout', { type: 'string', describe: 'how long a replacement may take to join (default 20m)' })
    .option('drain-timeout', { type: 'string', describe: 'how long draining the old node may take (default 10m)' })
    .option('gate-passes', {
      type: 'number',
      describe: 'consecutive healthy observations before each swap (default 3)',
    })
    .option('poll-interval', { type: 'string', describe: 'how often to observe while waiting (default 1s)' })
    .option('user-data', {
      type: 'string',
      describe: 'launch-template (default) or render: kubeswap renders the kubeadm join',
    })
    .option('certificate-key', {
      type: 'string',
      describe: 'render mode: key of your `kubeadm init phase upload-certs` (prefer KUBESWAP_CERTIFICATE_KEY)',
    })
    .option('pki-dir', {
      type: 'string',
      describe: 'render mode: upload ca, sa, front-proxy-ca, etcd/ca from here for the run',
    })
    .option('ca-cert', {
      type: 'string',
      describe: 'render mode: the cluster CA to pin (default: the CA in kube-public/cluster-info)',
    })
    .option('token-ttl', { type: 'string', describe: 'render mode: join token lifetime (default 1h)' })
    .option('snapshot-dir', {
      type: 'string',
      describe: 'where to write the etcd snapshot taken before the first swap',
    });
}
