// "May I?" asked of the API server itself (SelfSubjectAccessReview, authorization.k8s.io/v1), so whatever
// authorizes this identity (RBAC, a webhook, Node) answers, as `kubectl auth can-i` does. Every identity may
// create one: the system:basic-user ClusterRole grants it to all authenticated users.
import { bulkhead } from 'cockatiel';
import type { AccessCheck } from '../../ports/kube.ts';
import type { KubeApis } from './transport.ts';

/**
 * Reviews in flight at once. The ~30 of a preflight all at once would each open a TLS connection of their own
 * (HTTP/1.1: one request per connection at a time); a few connections, each reused, answer them sooner and load
 * the API server less.
 */
export const ACCESS_REVIEW_CONCURRENCY = 6;

export async function canI(apis: KubeApis, checks: readonly AccessCheck[]): Promise<boolean[]> {
  const limit = bulkhead(ACCESS_REVIEW_CONCURRENCY, checks.length);
  return Promise.all(
    checks.map((check) =>
      limit.execute(async () => {
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
      }),
    ),
  );
}
