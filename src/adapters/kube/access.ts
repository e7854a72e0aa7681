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
 * The namespaced checks are first answered from one SelfSubjectRulesReview per namespace (issue 15 §2: one review
 * per permission was 26 requests per swap of a 3-machine run). Its rules are RBAC's for that namespace, ClusterRole
 * bindings included (RBACAuthorizer.RulesFor), so a match there is what an access review would allow; a
 * SelfSubjectAccessReview still decides every check it does not match (another authorizer may allow it, or the
 * list is incomplete) and every cluster-wide check (the rules of a namespace's RoleBindings would wrongly grant
 * cluster-scoped resources). A preflight answer, never an authorization: the API server still decides each request.
 */
export async function canI(apis: KubeApis, checks: readonly AccessCheck[]): Promise<boolean[]> {
  const limit = bulkhead(ACCESS_REVIEW_CONCURRENCY, checks.length + 8);
  const namespaces = [...new Set(checks.flatMap((c) => (c.namespace ? [c.namespace] : [])))];
  const rules = new Map(
    await Promise.all(
      namespaces.map(async (namespace) => [namespace, await limit.execute(() => rulesIn(apis, namespace))] as const),
    ),
  );
  return Promise.all(
    checks.map((check) => {
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
