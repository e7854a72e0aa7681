// User data for a replacement control-plane machine: `kubeadm join` with a controlPlane section, which makes
// kubeadm download the shared certificates (with certificateKey), add the etcd member and start the static pods.
import { type JoinHooks, type NodeNameSource, renderJoinCloudConfig } from './cloud-config.ts';
import { type ControlPlaneSettings, type JoinSettings, renderJoinConfiguration } from './join-configuration.ts';

export interface ControlPlaneJoinInput extends Omit<JoinSettings, 'nodeName'>, ControlPlaneSettings {
  /** Default: IMDSv2 local-hostname, the name EC2 machines register under. */
  nodeName?: NodeNameSource;
  hooks?: JoinHooks;
}

/**
 * Without credentials.certificateKey the machine must already hold the shared PKI (baked into the image or
 * fetched by a before-join hook): kubeadm's preflight refuses a control-plane join without it.
 */
export function renderControlPlaneJoin(input: ControlPlaneJoinInput): string {
  return renderJoinCloudConfig({ joinConfiguration: controlPlaneJoinConfiguration(input), ...scriptOf(input) });
}

/** The JoinConfiguration alone (it holds the secrets): what a secret store keeps for the machine to fetch. */
export function controlPlaneJoinConfiguration(input: ControlPlaneJoinInput): string {
  const { nodeName, hooks: _hooks, localAPIEndpoint, ...settings } = input;
  const fixedName = typeof nodeName === 'object' ? nodeName.fixed : undefined;
  return renderJoinConfiguration({ ...settings, nodeName: fixedName }, { localAPIEndpoint });
}

/** User data that holds no secret: its join script first runs `fetch`, which writes the JoinConfiguration. */
export function renderControlPlaneJoinFetching(input: ControlPlaneJoinInput, fetch: string[]): string {
  return renderJoinCloudConfig({ joinConfiguration: { fetch }, ...scriptOf(input) });
}

function scriptOf(input: ControlPlaneJoinInput) {
  return { nodeName: input.nodeName ?? ('imds-local-hostname' as const), hooks: input.hooks };
}
