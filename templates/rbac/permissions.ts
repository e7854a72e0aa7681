// Every Kubernetes permission kubeswap uses, derived from each call in src/adapters/kube (the KubePort) and the
// engine steps that make them. templates/rbac/kubeswap.yaml grants exactly this list (a unit test compares them),
// and preflight asks the apiserver for each with a SelfSubjectAccessReview before anything changes.
// Creating the kubeadm RBAC objects a cluster lacks (src/engine/prepare/join-rbac.ts, kubelet-config.ts) needs more
// (create, bind): that is templates/rbac/kubeswap-rbac-repair.yaml, checked only when an object is missing.

export interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
  /** Unset: cluster-wide (a ClusterRole); set: a Role in that namespace. */
  namespace?: string;
  /** The one object the verb is limited to (RBAC resourceNames); create cannot be limited by name. */
  name?: string;
  /** render: needed only with --user-data render. */
  when?: 'render';
  why: string;
}

const KS = 'kube-system';

export const KUBESWAP_PERMISSIONS: readonly Permission[] = [
  // Nodes: observe, mark the retiring machine, cordon, delete the old Node after its machine is gone.
  { group: '', resource: 'nodes', verb: 'list', why: 'observe the control-plane Nodes and every kubelet version' },
  { group: '', resource: 'nodes', verb: 'watch', why: 'wake the loop when a Node changes' },
  { group: '', resource: 'nodes', verb: 'patch', why: 'cordon the old node and annotate it' },
  { group: '', resource: 'nodes', verb: 'delete', why: 'delete the old Node once its machine is terminated' },
  // Pods: static pods of the control plane, draining.
  { group: '', resource: 'pods', verb: 'list', why: 'static pods on control-plane Nodes; pods to drain' },
  { group: '', resource: 'pods', verb: 'get', why: 'wait until an evicted pod is gone' },
  {
    group: '',
    resource: 'pods',
    verb: 'watch',
    why: 'wake the loop when a static pod changes; wait for evicted pods to be gone (drain)',
  },
  {
    group: '',
    resource: 'pods',
    verb: 'delete',
    namespace: KS,
    why: "remove a deleted Node's DaemonSet pods (kube-proxy) at once, not after the pod garbage collector's minute",
  },
  { group: '', resource: 'pods', subresource: 'eviction', verb: 'create', why: 'drain the old node' },
  {
    group: 'policy',
    resource: 'poddisruptionbudgets',
    verb: 'list',
    why: 'explain a drain that a PodDisruptionBudget blocks',
  },
  { group: '', resource: 'events', verb: 'create', namespace: 'default', why: 'record what happened to a Node' },
  // kubeadm-config, kubelet-config-*, the progress record and the retiring marker.
  { group: '', resource: 'configmaps', verb: 'get', namespace: KS, why: 'read kubeadm-config and kubelet-config' },
  {
    group: '',
    resource: 'configmaps',
    verb: 'create',
    namespace: KS,
    why: 'progress record, retiring marker, versioned kubelet-config',
  },
  {
    group: '',
    resource: 'configmaps',
    verb: 'update',
    namespace: KS,
    why: 'kubeadm-config kubernetesVersion and API version, progress record',
  },
  { group: '', resource: 'configmaps', verb: 'delete', namespace: KS, why: 'remove the retiring marker' },
  // The addons after the control plane (src/engine/addons): read each with its rollout status, set its image, follow
  // its rollout (a watch selecting metadata.name, authorized by resourceNames as the lock's watch below).
  ...(['get', 'patch', 'watch'] as const).map((verb) => ({
    group: 'apps',
    resource: 'daemonsets',
    verb,
    namespace: KS,
    name: 'kube-proxy',
    why: 'kube-proxy to the image kubeadm of the target writes, and its rollout',
  })),
  ...(['get', 'patch', 'watch'] as const).map((verb) => ({
    group: 'apps',
    resource: 'deployments',
    verb,
    namespace: KS,
    name: 'coredns',
    why: 'CoreDNS to the image kubeadm of the target writes, and its rollout',
  })),
  // The run lock.
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verb: 'create',
    namespace: KS,
    why: 'take the run lock',
  },
  ...(['get', 'update', 'delete'] as const).map(
    (verb): Permission => ({
      group: 'coordination.k8s.io',
      resource: 'leases',
      verb,
      namespace: KS,
      name: 'kubeswap-lock',
      why: 'renew, check and release the run lock',
    }),
  ),
  // RBAC authorizes a watch limited by resourceNames when it selects metadata.name (kubernetes.io RBAC "Referring
  // to resources"), as the lock's watch does.
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verb: 'watch',
    namespace: KS,
    name: 'kubeswap-lock',
    why: 'see at once when the run lock is taken or broken (unlock --force)',
  },
  // Whether the RBAC kubeadm join relies on exists (created only when missing: templates/rbac/kubeswap-rbac-repair.yaml).
  ...(['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'] as const).map(
    (resource): Permission => ({
      group: 'rbac.authorization.k8s.io',
      resource,
      verb: 'get',
      why: 'check the RBAC kubeadm join needs',
    }),
  ),
  // Render mode: a join token per run, the shared certificates, the CA pin.
  ...(['get', 'list', 'create', 'update', 'delete'] as const).map(
    (verb): Permission => ({
      group: '',
      resource: 'secrets',
      verb,
      namespace: KS,
      when: 'render',
      why: 'bootstrap token and kubeadm-certs of the run (render mode)',
    }),
  ),
  {
    group: '',
    resource: 'configmaps',
    verb: 'get',
    namespace: 'kube-public',
    name: 'cluster-info',
    when: 'render',
    why: 'the cluster CA to pin (render mode without --ca-cert)',
  },
];

/** `verb group/resource[/sub] [name] [in namespace]`, the way a refusal names a missing permission. */
export function describePermission(
  p: Pick<Permission, 'group' | 'resource' | 'subresource' | 'verb' | 'namespace' | 'name'>,
): string {
  const resource = `${p.group ? `${p.group}/` : ''}${p.resource}${p.subresource ? `/${p.subresource}` : ''}`;
  return `${p.verb} ${resource}${p.name ? ` ${p.name}` : ''}${p.namespace ? ` in ${p.namespace}` : ' (cluster-wide)'}`;
}
