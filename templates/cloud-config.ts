// The `#cloud-config` shared by the control-plane and worker joins: the JoinConfiguration and a join script in
// write_files, one runcmd entry that runs the script. cloud-init parses user data with PyYAML (YAML 1.1), so the
// document is emitted as 1.1: `yes`/`no`/`on`/`off` and octal-looking modes are quoted, never reinterpreted.
import { stringify } from 'yaml';
import { JOIN_CONFIG_PATH } from './join-configuration.ts';

export const JOIN_SCRIPT_PATH = '/etc/kubeadm/kubeswap-join.sh';

/** How the machine learns its node name at boot. */
export type NodeNameSource =
  /** nodeRegistration.name in the file (given by the caller). */
  | { fixed: string }
  /** EC2 private DNS name from IMDSv2 (the name the AWS cloud provider expects), passed as `--node-name`. */
  | 'imds-local-hostname'
  /** kubeadm's default: the machine's hostname. */
  | 'hostname';

/** Site-specific shell lines run as root around the join; the first failing line stops the script. */
export interface JoinHooks {
  beforeJoin?: string[];
  afterJoin?: string[];
}

// IMDSv2 only (the launch is made with HttpTokens=required): a session token first, then the metadata.
const IMDS_NODE_NAME = [
  "imds_token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)",
  'node_name=$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" http://169.254.169.254/latest/meta-data/local-hostname)',
];

/**
 * `fetch`: shell lines that write the JoinConfiguration to JOIN_CONFIG_PATH at boot (from a secret store), when the
 * user data must not carry it.
 */
export function joinScript(nodeName: NodeNameSource, hooks: JoinHooks = {}, fetch: string[] = []): string {
  const join = `kubeadm join --config ${JOIN_CONFIG_PATH}`;
  const lines = [
    '#!/bin/bash',
    '# Written by kubeswap: site hooks, then kubeadm join; stops at the first failure so a failed join',
    '# never runs the after-join hooks (cloud-init runcmd alone would carry on).',
    'set -euo pipefail',
    ...fetch,
    ...(hooks.beforeJoin ?? []),
    ...(nodeName === 'imds-local-hostname' ? [...IMDS_NODE_NAME, `${join} --node-name "$node_name"`] : [join]),
    // The join file holds the token and certificate key: drop it once kubeadm has used it.
    `rm -f ${JOIN_CONFIG_PATH}`,
    ...(hooks.afterJoin ?? []),
  ];
  return `${lines.join('\n')}\n`;
}

export interface JoinCloudConfig {
  /** The JoinConfiguration itself, or the shell lines that fetch it at boot (it then never is in the user data). */
  joinConfiguration: string | { fetch: string[] };
  nodeName: NodeNameSource;
  hooks?: JoinHooks;
}

export function renderJoinCloudConfig(input: JoinCloudConfig): string {
  const inline = typeof input.joinConfiguration === 'string' ? input.joinConfiguration : undefined;
  const fetch = typeof input.joinConfiguration === 'string' ? [] : input.joinConfiguration.fetch;
  const document = {
    write_files: [
      // Modes are strings: PyYAML reads an unquoted 0600 as the octal int 384, and some cloud-init versions then
      // misparse it; '0600' is what the cloud-init docs show.
      ...(inline !== undefined
        ? [{ path: JOIN_CONFIG_PATH, owner: 'root:root', permissions: '0600', content: inline }]
        : []),
      {
        path: JOIN_SCRIPT_PATH,
        owner: 'root:root',
        permissions: '0700',
        content: joinScript(input.nodeName, input.hooks, fetch),
      },
    ],
    runcmd: [['/bin/bash', JOIN_SCRIPT_PATH]],
  };
  return `#cloud-config\n${stringify(document, { version: '1.1', lineWidth: 0 })}`;
}
