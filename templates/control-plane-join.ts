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
  const { nodeName = 'imds-local-hostname', hooks, localAPIEndpoint, ...settings } = input;
  const fixedName = typeof nodeName === 'object' ? nodeName.fixed : undefined;
  const joinConfiguration = renderJoinConfiguration({ ...settings, nodeName: fixedName }, { localAPIEndpoint });
  return renderJoinCloudConfig({ joinConfiguration, nodeName, hooks });
}
