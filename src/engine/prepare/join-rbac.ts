// RBAC that `kubeadm join` of the target version relies on, as `kubeadm upgrade apply` ensures it
// (cmd/phases/upgrade/apply/bootstraptoken.go, phases/bootstraptoken/node/tlsbootstrap.go,
// phases/bootstraptoken/clusterinfo, phases/kubeconfig; names from constants/constants.go, v1.37.2).
// One table, by target version; every object is created only when missing, never overwritten.

import type { KubeVersion } from '../../domain/kubeadm/versions.ts';
import type { RbacObject, RbacSubject } from '../../ports/kube.ts';

export const NODES_GROUP = 'system:nodes';
export const BOOTSTRAP_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';

const bootstrappers: RbacSubject[] = [{ kind: 'Group', name: BOOTSTRAP_TOKEN_GROUP }];

function clusterRoleBinding(name: string, clusterRole: string, subjects: RbacSubject[]): RbacObject {
  return { kind: 'ClusterRoleBinding', name, roleRef: { kind: 'ClusterRole', name: clusterRole }, subjects };
}

interface JoinRbacRow {
  /** First target minor (1.x) that needs these objects. */
  sinceMinor: number;
  why: string;
  objects: RbacObject[];
}

const JOIN_RBAC: JoinRbacRow[] = [
  {
    sinceMinor: 0,
    why: 'join reads the Node of its own name with the bootstrap token (AllowBootstrapTokensToGetNodes)',
    objects: [
      {
        kind: 'ClusterRole',
        name: 'kubeadm:get-nodes',
        rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
      },
      clusterRoleBinding('kubeadm:get-nodes', 'kubeadm:get-nodes', bootstrappers),
    ],
  },
  {
    sinceMinor: 0,
    why: 'TLS bootstrap: bootstrap tokens post CSRs, which the csrapprover approves; nodes rotate their certificates',
    objects: [
      clusterRoleBinding('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', bootstrappers),
      clusterRoleBinding(
        'kubeadm:node-autoapprove-bootstrap',
        'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
        bootstrappers,
      ),
      clusterRoleBinding(
        'kubeadm:node-autoapprove-certificate-rotation',
        'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
        [{ kind: 'Group', name: NODES_GROUP }],
      ),
    ],
  },
  {
    sinceMinor: 0,
    why: 'token discovery reads kube-public/cluster-info anonymously (CreateClusterInfoRBACRules)',
    objects: [
      {
        kind: 'Role',
        namespace: 'kube-public',
        name: 'kubeadm:bootstrap-signer-clusterinfo',
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['cluster-info'] }],
      },
      {
        kind: 'RoleBinding',
        namespace: 'kube-public',
        name: 'kubeadm:bootstrap-signer-clusterinfo',
        roleRef: { kind: 'Role', name: 'kubeadm:bootstrap-signer-clusterinfo' },
        subjects: [{ kind: 'User', name: 'system:anonymous' }],
      },
    ],
  },
  {
    // The apiserver-kubelet-client certificate lost system:masters (kubernetes#138958, in v1.36.1 and
    // backported patch releases); without this binding the new apiserver cannot reach kubelets (logs, exec).
    // The ClusterRole is built into the apiserver, so the binding is harmless on any version.
    sinceMinor: 0,
    why: 'the apiserver kubelet client of new control-plane nodes needs system:kubelet-api-admin',
    objects: [
      clusterRoleBinding('kubeadm:apiserver-kubelet-client', 'system:kubelet-api-admin', [
        { kind: 'User', name: 'kube-apiserver-kubelet-client' },
      ]),
    ],
  },
  {
    // From 1.29 admin.conf carries group kubeadm:cluster-admins instead of system:masters.
    sinceMinor: 29,
    why: 'admin.conf written by kubeadm >= 1.29 authenticates as group kubeadm:cluster-admins',
    objects: [
      clusterRoleBinding('kubeadm:cluster-admins', 'cluster-admin', [
        { kind: 'Group', name: 'kubeadm:cluster-admins' },
      ]),
    ],
  },
];

/** The join RBAC objects for a target version, in table order. */
export function joinRbac(target: KubeVersion): RbacObject[] {
  return JOIN_RBAC.filter((row) => target.minor >= row.sinceMinor).flatMap((row) => row.objects);
}
