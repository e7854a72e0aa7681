// RBAC objects that joins need (kubelet-config access, kubeadm:get-nodes, ...), created when missing and
// never overwritten: an operator may have tightened them, and kubeadm itself only creates them.
import type { V1ClusterRole, V1ClusterRoleBinding, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import type { RbacObject, RbacSubject } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import type { KubeApis } from './transport.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** `Kind/name`, as ensureRbac reports what it created. */
export function rbacLabel(object: Pick<RbacObject, 'kind' | 'name'>): string {
  return `${object.kind}/${object.name}`;
}

function subjects(list: RbacSubject[]) {
  // ServiceAccount subjects live in the core group; User and Group in rbac.authorization.k8s.io.
  return list.map((s) => ({ ...s, apiGroup: s.kind === 'ServiceAccount' ? '' : RBAC_GROUP }));
}

async function create(apis: KubeApis, object: RbacObject): Promise<void> {
  const { rbac } = apis;
  switch (object.kind) {
    case 'Role': {
      const body: V1Role = { metadata: { name: object.name, namespace: object.namespace }, rules: object.rules };
      await rbac.createNamespacedRole({ namespace: object.namespace, body });
      return;
    }
    case 'RoleBinding': {
      const body: V1RoleBinding = {
        metadata: { name: object.name, namespace: object.namespace },
        roleRef: { apiGroup: RBAC_GROUP, ...object.roleRef },
        subjects: subjects(object.subjects),
      };
      await rbac.createNamespacedRoleBinding({ namespace: object.namespace, body });
      return;
    }
    case 'ClusterRole': {
      const body: V1ClusterRole = { metadata: { name: object.name }, rules: object.rules };
      await rbac.createClusterRole({ body });
      return;
    }
    case 'ClusterRoleBinding': {
      const body: V1ClusterRoleBinding = {
        metadata: { name: object.name },
        roleRef: { apiGroup: RBAC_GROUP, ...object.roleRef },
        subjects: subjects(object.subjects),
      };
      await rbac.createClusterRoleBinding({ body });
      return;
    }
  }
}

/** Creates the missing objects in order; returns `Kind/name` of those created. */
export async function ensureRbac(apis: KubeApis, objects: RbacObject[]): Promise<string[]> {
  const created: string[] = [];
  // Read first: an identity without create on RBAC (templates/rbac) is refused a create of an object that exists.
  // The reads go out together; the creates stay one at a time, in the given order.
  const exists = await Promise.all(objects.map((object) => rbacExists(apis, object)));
  for (const [i, object] of objects.entries()) {
    if (exists[i]) continue;
    try {
      await create(apis, object);
      created.push(rbacLabel(object));
    } catch (err) {
      // 409 AlreadyExists: present, and left exactly as it is.
      if (statusCode(err) === 409) continue;
      throw apis.fail(err, `create ${rbacLabel(object)}`);
    }
  }
  return created;
}

export async function rbacExists(
  apis: KubeApis,
  object: Pick<RbacObject, 'kind' | 'name'> & { namespace?: string },
): Promise<boolean> {
  const { rbac } = apis;
  const { name } = object;
  try {
    switch (object.kind) {
      case 'Role':
        await rbac.readNamespacedRole({ name, namespace: requireNamespace(object) });
        break;
      case 'RoleBinding':
        await rbac.readNamespacedRoleBinding({ name, namespace: requireNamespace(object) });
        break;
      case 'ClusterRole':
        await rbac.readClusterRole({ name });
        break;
      case 'ClusterRoleBinding':
        await rbac.readClusterRoleBinding({ name });
        break;
    }
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw apis.fail(err, `read ${rbacLabel(object)}`);
  }
  function requireNamespace(o: { namespace?: string }): string {
    if (!o.namespace) throw new Error(`${rbacLabel(object)} needs a namespace`);
    return o.namespace;
  }
}
