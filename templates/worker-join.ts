// User data for a worker machine: `kubeadm join` without a controlPlane section (TLS bootstrap of the kubelet
// only). Worker pools are the next target after the control plane; the template exists so both share one format.
import { type JoinHooks, type NodeNameSource, renderJoinCloudConfig } from './cloud-config.ts';
import { type JoinSettings, renderJoinConfiguration } from './join-configuration.ts';

export interface WorkerJoinInput extends Omit<JoinSettings, 'nodeName' | 'credentials'> {
  /** A worker never downloads control-plane certificates, so any certificate key is ignored. */
  credentials: JoinSettings['credentials'];
  /** Default: IMDSv2 local-hostname. */
  nodeName?: NodeNameSource;
  hooks?: JoinHooks;
}

export function renderWorkerJoin(input: WorkerJoinInput): string {
  const { nodeName = 'imds-local-hostname', hooks, credentials, ...settings } = input;
  const fixedName = typeof nodeName === 'object' ? nodeName.fixed : undefined;
  const joinConfiguration = renderJoinConfiguration({
    ...settings,
    nodeName: fixedName,
    // Only what a worker join reads: the certificate key must not travel to machines that do not need it.
    credentials: { token: credentials.token, caCertHashes: credentials.caCertHashes },
  });
  return renderJoinCloudConfig({ joinConfiguration, nodeName, hooks });
}
