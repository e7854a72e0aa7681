// The version-skew policy for workers (kubernetes.io/releases/version-skew-policy): a kubelet must not be newer
// than kube-apiserver. Worker replacements run the target's kubelet, so every control-plane Node runs the
// target before the first worker is replaced.
import { normalizeVersion } from '../../domain/kubeadm/versions.ts';
import type { Desired } from '../../domain/model.ts';
import type { Snapshot } from '../observe/snapshot.ts';
import type { Decision } from './steps.ts';

export function skewBlocked(s: Snapshot, desired: Desired): Extract<Decision, { kind: 'blocked' }> | undefined {
  const behind = s.nodes.filter(
    (n) => n.controlPlane && normalizeVersion(n.kubeletVersion) !== normalizeVersion(desired.version),
  );
  if (behind.length === 0) return undefined;
  return {
    kind: 'blocked',
    code: 'skew.control-plane-behind',
    reason: `workers would be newer than the control plane: ${behind.map((n) => `${n.name} runs ${n.kubeletVersion}`).join(', ')}, the target is ${desired.version}`,
    hint: `upgrade the control plane first (kubeswap apply --to ${desired.version} --control-plane-only, or without --workers-only)`,
  };
}
