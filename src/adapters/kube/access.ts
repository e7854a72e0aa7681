// "May I?" asked of the API server itself (SelfSubjectAccessReview, authorization.k8s.io/v1), so whatever
// authorizes this identity (RBAC, a webhook, Node) answers, as `kubectl auth can-i` does. Every identity may
// create one: the system:basic-user ClusterRole grants it to all authenticated users.
import type { V1ResourceRule } from '@kubernetes/client-node';
import { bulkhead } from 'cockatiel';
import type { AccessCheck } from '../../ports/kube.ts';
import type { KubeApis } from './transport.ts';

/**
 * Reviews in flight at once. The ~30 of a preflight all at once would each open a TLS connection of their own
 * (HTTP/1.1: one request per connection at a time); a few connections, each reused, answer them sooner and load
 * the API server less.
 */
export const ACCESS_REVIEW_CONCURRENCY = 6;

/**
 * A namespace no object can live in (namespace names are DNS labels: no ':'), so no RoleBinding either: its rules
 * review returns exactly what ClusterRoleBindings grant (RBAC's VisitRulesFor lists the ClusterRoleBindings, then the
 * RoleBindings of the namespace asked about; the SelfSubjectRulesReview REST handler requires a namespace but does
 * not validate it: kubernetes pkg/registry/rbac/validation/rule.go, pkg/registry/authorization/selfsubjectrulesreview).
 * A ClusterRoleBinding's rule holds cluster-wide and in every namespace.
 */
export const CLUSTER_BINDINGS_ONLY = 'kubeswap:cluster-role-bindings';

/**
 * Every check is first answered from SelfSubjectRulesReviews (issue 15 §2: one review per permission was 26 requests
 * per swap of a 3-machine run, then 12 access reviews for the cluster-wide checks): one for the ClusterRoleBindings'
 * rules (CLUSTER_BINDINGS_ONLY), which answer cluster-wide and namespaced checks alike, then one per namespace whose
 * checks those rules left open (RBAC's rules for that namespace, ClusterRole bindings included: RBACAuthorizer.RulesFor).
 * A match is what RBAC allows; a SelfSubjectAccessReview still decides every check no rule matched (another
 * authorizer may allow it, or the list is incomplete). An authorizer placed before RBAC that denies (a webhook in the
 * authorization configuration) is not in the rules: behind one, a check a rule matched may still be refused by the
 * API server mid-run (README "Permissions" says so). A namespace's rules never answer a cluster-wide check
 * (its RoleBindings' rules do not grant cluster-scoped resources). A preflight answer, never an authorization: the
 * API server still decides each request.
 */
export async function canI(apis: KubeApis, checks: readonly AccessCheck[]): Promise<boolean[]> {
  const limit = bulkhead(ACCESS_REVIEW_CONCURRENCY, checks.length + 8);
  const clusterWide = await rulesIn(apis, CLUSTER_BINDINGS_ONLY);
  const open = checks.filter((check) => !clusterWide.some((rule) => allows(rule, check)));
  const namespaces = [...new Set(open.flatMap((c) => (c.namespace ? [c.namespace] : [])))];
  const rules = new Map(
    await Promise.all(
      namespaces.map(async (namespace) => [namespace, await limit.execute(() => rulesIn(apis, namespace))] as const),
    ),
  );
  return Promise.all(
    checks.map((check) => {
      if (!open.includes(check)) return true;
      const known = check.namespace ? rules.get(check.namespace) : undefined;
      if (known?.some((rule) => allows(rule, check))) return true;
      return limit.execute(() => review(apis, check));
    }),
  );
}

/** What RBAC lets this identity do in a namespace; [] when the review could not say (every check then asks). */
async function rulesIn(apis: KubeApis, namespace: string): Promise<V1ResourceRule[]> {
  try {
    const answer = await apis.authorization.createSelfSubjectRulesReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
    });
    return answer.status?.resourceRules ?? [];
  } catch {
    // Older or restricted API servers: the access reviews answer alone.
    return [];
  }
}

/** RBAC's rule matching (k8s.io/component-helpers/auth/rbac: VerbMatches, APIGroupMatches, ResourceMatches, ResourceNameMatches). */
export function allows(rule: V1ResourceRule, check: AccessCheck): boolean {
  const has = (list: string[] | undefined, value: string) => (list ?? []).some((x) => x === '*' || x === value);
  if (!has(rule.verbs, check.verb) || !has(rule.apiGroups, check.group)) return false;
  const combined = check.subresource ? `${check.resource}/${check.subresource}` : check.resource;
  const resources = rule.resources ?? [];
  const resourceOk = resources.some(
    (r) => r === '*' || r === combined || (check.subresource !== undefined && r === `*/${check.subresource}`),
  );
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (check.name !== undefined && names.includes(check.name));
}

async function review(apis: KubeApis, check: AccessCheck): Promise<boolean> {
  try {
    const review = await apis.authorization.createSelfSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            group: check.group,
            resource: check.resource,
            subresource: check.subresource,
            verb: check.verb,
            namespace: check.namespace,
            name: check.name,
          },
        },
      },
    });
    return review.status?.allowed === true;
  } catch (err) {
    throw apis.fail(err, `ask whether it may ${check.verb} ${check.resource}`);
  }
}
