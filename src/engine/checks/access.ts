// Before anything else, ask the API server whether this identity may do everything the run will do
// (SelfSubjectAccessReview), and refuse up front naming each missing permission, instead of a 403 mid-run.
// The list lives beside the RBAC template that grants it (templates/rbac/permissions.ts).
import { describePermission, KUBESWAP_PERMISSIONS, type Permission } from '../../../templates/rbac/permissions.ts';
import type { Problem } from '../../domain/errors.ts';
import type { AccessCheck, KubePort, RbacObject } from '../../ports/kube.ts';

const HINT = 'grant the roles in templates/rbac (README "Permissions"); nothing was changed';
const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** The permissions a run needs: all, or all but render mode's. */
export function neededPermissions(options: { render: boolean }): Permission[] {
  return KUBESWAP_PERMISSIONS.filter((p) => options.render || p.when !== 'render');
}

export async function accessProblems(kube: Pick<KubePort, 'canI'>, options: { render: boolean }): Promise<Problem[]> {
  const needed = neededPermissions(options);
  const allowed = await kube.canI(needed);
  return needed
    .filter((_, i) => !allowed[i])
    .map((p) => ({
      code: 'access.denied',
      message: `this identity may not ${describePermission(p)}, needed to ${p.why}`,
      hint: HINT,
    }));
}

const resourceOf = {
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
};

/**
 * Creating a kubeadm RBAC object the cluster lacks needs create on its kind and, as the RBAC escalation
 * check demands (kubernetes.io "Privilege escalation prevention"), `bind` on a binding's role, or holding
 * every permission a new role grants. kubeadm init creates them all, so this is needed only on clusters
 * that lost some: templates/rbac/kubeswap-rbac-repair.yaml.
 */
export async function rbacRepairProblems(
  kube: Pick<KubePort, 'canI' | 'rbacExists'>,
  objects: readonly RbacObject[],
): Promise<Problem[]> {
  // Independent objects, asked about side by side: each costs two round trips (exists? then may I?).
  const perObject = await Promise.all(
    objects.map(async (object): Promise<Problem[]> => {
      if (await kube.rbacExists(object)) return [];
      const namespace = 'namespace' in object ? object.namespace : undefined;
      const checks: AccessCheck[] = [
        { group: RBAC_GROUP, resource: resourceOf[object.kind], verb: 'create', namespace },
      ];
      if ('roleRef' in object) {
        const resource = object.roleRef.kind === 'Role' ? 'roles' : 'clusterroles';
        checks.push({ group: RBAC_GROUP, resource, verb: 'bind', namespace, name: object.roleRef.name });
      } else {
        for (const rule of object.rules)
          for (const group of rule.apiGroups)
            for (const resource of rule.resources)
              for (const verb of rule.verbs)
                for (const name of rule.resourceNames ?? [undefined])
                  checks.push({ group, resource, verb, namespace, name });
      }
      const allowed = await kube.canI(checks);
      const missing = checks.filter((_, i) => !allowed[i]).map((c) => describePermission(c));
      if (missing.length === 0) return [];
      return [
        {
          code: 'access.denied',
          message: `${object.kind} ${namespace ? `${namespace}/` : ''}${object.name}, which kubeadm join needs, is missing and this identity may not create it: ${missing.join(', ')}`,
          hint: 'create it as kubeadm does (kubeadm init phase bootstrap-token), or grant templates/rbac/kubeswap-rbac-repair.yaml; nothing was changed',
        },
      ];
    }),
  );
  return perObject.flat();
}
