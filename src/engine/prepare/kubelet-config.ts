// The kubelet's base configuration that `kubeadm join` downloads, and the RBAC that lets joining nodes
// read it, per target version (notes/kubernetes.md §2; kubeadm phases/kubelet/config.go):
// - target < 1.24: ConfigMap `kubelet-config-1.X` with Role/RoleBinding `kubeadm:kubelet-config-1.X`
//   (copied from `kubelet-config-1.(X-1)`, as `kubeadm upgrade apply` would upload it);
// - 1.24 (UnversionedKubeletConfigMap on by default): `kubelet-config` and `kubeadm:kubelet-config`,
//   so 1.23 -> 1.24 copies `kubelet-config-1.23` to `kubelet-config`;
// - from 1.25 (gate GA, removed in 1.26) the unversioned objects already exist: verify only.
// plan = pure function of versions and what exists; ensure = create what is missing, never overwrite.
import { KubeswapError } from '../../domain/errors.ts';
import { type KubeVersion, parseKubeVersion } from '../../domain/kubeadm/versions.ts';
import type { KubePort, RbacObject } from '../../ports/kube.ts';
import { BOOTSTRAP_TOKEN_GROUP, joinRbac, NODES_GROUP } from './join-rbac.ts';

export const KUBELET_CONFIG_NAMESPACE = 'kube-system';
/** Data key kubeadm stores the KubeletConfiguration under (KubeletBaseConfigurationConfigMapKey). */
export const KUBELET_CONFIG_KEY = 'kubelet';
const UNVERSIONED_SINCE_MINOR = 24;

export interface KubeletConfigPlan {
  /** Copy the first ConfigMap's data to the second name; only planned when the target is missing. */
  copy?: { from: string; to: string };
  /** kubelet-config access plus the join RBAC table (join-rbac.ts), each created only if missing. */
  rbac: RbacObject[];
  /** ConfigMaps that must exist once the plan has run. */
  verify: string[];
}

function unversioned(version: KubeVersion): boolean {
  return version.major > 1 || version.minor >= UNVERSIONED_SINCE_MINOR;
}

/** `kubelet-config-1.23` before 1.24, `kubelet-config` from 1.24 (KubeletBaseConfigurationConfigMap[Prefix]). */
export function kubeletConfigMapName(version: KubeVersion): string {
  return unversioned(version) ? 'kubelet-config' : `kubelet-config-${version.major}.${version.minor}`;
}

/** `kubeadm:kubelet-config-1.23` before 1.24, `kubeadm:kubelet-config` from 1.24 (KubeletBaseConfigMapRole[Prefix]). */
export function kubeletConfigRoleName(version: KubeVersion): string {
  return unversioned(version) ? 'kubeadm:kubelet-config' : `kubeadm:kubelet-config-${version.major}.${version.minor}`;
}

/** Role (get on that one ConfigMap) and RoleBinding for nodes and bootstrap tokens (createConfigMapRBACRules). */
export function kubeletConfigRbac(version: KubeVersion): RbacObject[] {
  const name = kubeletConfigRoleName(version);
  return [
    {
      kind: 'Role',
      namespace: KUBELET_CONFIG_NAMESPACE,
      name,
      rules: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: [kubeletConfigMapName(version)] },
      ],
    },
    {
      kind: 'RoleBinding',
      namespace: KUBELET_CONFIG_NAMESPACE,
      name,
      roleRef: { kind: 'Role', name },
      subjects: [
        { kind: 'Group', name: NODES_GROUP },
        { kind: 'Group', name: BOOTSTRAP_TOKEN_GROUP },
      ],
    },
  ];
}

function version(text: string, what: string): KubeVersion {
  const parsed = parseKubeVersion(text);
  if (!parsed)
    throw new KubeswapError('invalid', 'version.invalid', `${what} version "${text}" is not a Kubernetes version`);
  return parsed;
}

export function kubeletConfigPlan(
  fromVersion: string,
  toVersion: string,
  existing: { configMaps: readonly string[] },
): KubeletConfigPlan {
  const from = version(fromVersion, 'current');
  const to = version(toVersion, 'target');
  const source = kubeletConfigMapName(from);
  const target = kubeletConfigMapName(to);
  const rbac = [...kubeletConfigRbac(to), ...joinRbac(to)];
  const copy = source !== target && !existing.configMaps.includes(target) ? { from: source, to: target } : undefined;
  return { ...(copy ? { copy } : {}), rbac, verify: [target] };
}

/** Annotations that belong to the old object's history, not to its content. */
const NOT_COPIED = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** Runs a plan; returns what it created (`ConfigMap/name`, `Kind/name`). Existing objects are left alone. */
export async function ensureKubeletConfigAndRbac(kube: KubePort, plan: KubeletConfigPlan): Promise<string[]> {
  const created: string[] = [];
  if (plan.copy) {
    const source = await kube.getConfigMap(KUBELET_CONFIG_NAMESPACE, plan.copy.from);
    if (source) {
      // Same data, so kubeadm's signature annotation (component-config.hash) stays valid.
      const annotations = Object.fromEntries(Object.entries(source.annotations).filter(([k]) => !NOT_COPIED.has(k)));
      const result = await kube.createConfigMap({
        namespace: KUBELET_CONFIG_NAMESPACE,
        name: plan.copy.to,
        data: { ...source.data },
        labels: { ...source.labels },
        annotations,
      });
      if (result === 'created') created.push(`ConfigMap/${plan.copy.to}`);
    }
  }
  created.push(...(await kube.ensureRbac(plan.rbac)));
  const found = await Promise.all(plan.verify.map((name) => kube.getConfigMap(KUBELET_CONFIG_NAMESPACE, name)));
  const missing = plan.verify.filter((_, i) => !found[i]);
  if (missing.length > 0) {
    const source = plan.copy ? ` (and its source ${plan.copy.from} is missing too)` : '';
    throw new KubeswapError(
      'blocked',
      'kubeadm.kubelet-config-missing',
      `kube-system/${missing.join(', ')} does not exist${source}`,
      {
        hint: 'joining nodes download their kubelet configuration from it; re-upload it with `kubeadm init phase upload-config kubelet`',
      },
    );
  }
  return created;
}
