import assert from 'node:assert/strict';
import { allows, canI } from '../../../src/adapters/kube/access.ts';
import type { KubeApis } from '../../../src/adapters/kube/transport.ts';
import type { AccessCheck } from '../../../src/ports/kube.ts';

describe('kube adapter: access checks from a rules review, access reviews for the rest', () => {
  const lease: AccessCheck = {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verb: 'watch',
    namespace: 'kube-system',
    name: 'kubeswap-lock',
  };

  it("matches as RBAC does: verbs, groups, resources with subresources, names and '*'", () => {
    const rule = (over: object) => ({
      verbs: ['watch'],
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      ...over,
    });
    assert.equal(allows(rule({}), lease), true);
    assert.equal(allows(rule({ resourceNames: ['kubeswap-lock'] }), lease), true);
    assert.equal(allows(rule({ resourceNames: ['other'] }), lease), false);
    assert.equal(allows(rule({ resourceNames: ['kubeswap-lock'] }), { ...lease, name: undefined }), false);
    assert.equal(allows(rule({ verbs: ['get'] }), lease), false);
    assert.equal(allows(rule({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }), lease), true);
    assert.equal(allows(rule({ apiGroups: [''] }), lease), false);
    const evict: AccessCheck = { group: '', resource: 'pods', subresource: 'eviction', verb: 'create' };
    const podRule = { verbs: ['create'], apiGroups: [''] };
    assert.equal(allows({ ...podRule, resources: ['pods'] }, evict), false, 'pods does not grant pods/eviction');
    assert.equal(allows({ ...podRule, resources: ['pods/eviction'] }, evict), true);
    assert.equal(allows({ ...podRule, resources: ['*/eviction'] }, evict), true);
  });

  it('asks one rules review per namespace, and an access review only for what it does not grant and cluster-wide checks', async () => {
    const asked: string[] = [];
    const apis = {
      authorization: {
        createSelfSubjectRulesReview: async ({ body }: { body: { spec: { namespace: string } } }) => {
          asked.push(`rules ${body.spec.namespace}`);
          return {
            status: {
              incomplete: false,
              resourceRules:
                body.spec.namespace === 'kube-system'
                  ? [{ verbs: ['get', 'watch'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] }]
                  : [],
            },
          };
        },
        createSelfSubjectAccessReview: async ({ body }: { body: { spec: { resourceAttributes: AccessCheck } } }) => {
          const a = body.spec.resourceAttributes;
          asked.push(`review ${a.verb} ${a.resource}`);
          return { status: { allowed: a.resource === 'nodes' } };
        },
      },
      fail: (err: unknown) => err,
    } as unknown as KubeApis;
    const answers = await canI(apis, [
      lease,
      { ...lease, verb: 'get' },
      { ...lease, verb: 'delete' },
      { group: '', resource: 'nodes', verb: 'list' },
      { group: '', resource: 'events', verb: 'create', namespace: 'default' },
    ]);
    assert.deepEqual(answers, [true, true, false, true, false]);
    assert.deepEqual(asked.sort(), [
      'review create events',
      'review delete leases',
      'review list nodes',
      'rules default',
      'rules kube-system',
      'rules kubeswap:cluster-role-bindings',
    ]);
  });

  it("answers cluster-wide and namespaced checks from the ClusterRoleBindings' rules first, asking a namespace only for what they leave open", async () => {
    const asked: string[] = [];
    const rulesOf: Record<string, object[]> = {
      // What ClusterRoleBindings grant: cluster-wide, and in every namespace.
      'kubeswap:cluster-role-bindings': [
        { verbs: ['list', 'watch'], apiGroups: [''], resources: ['nodes'] },
        { verbs: ['create'], apiGroups: [''], resources: ['events'] },
      ],
      // A RoleBinding in kube-system: never an answer to a cluster-wide check.
      'kube-system': [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
    };
    const apis = {
      authorization: {
        createSelfSubjectRulesReview: async ({ body }: { body: { spec: { namespace: string } } }) => {
          asked.push(`rules ${body.spec.namespace}`);
          return { status: { incomplete: false, resourceRules: rulesOf[body.spec.namespace] ?? [] } };
        },
        createSelfSubjectAccessReview: async ({ body }: { body: { spec: { resourceAttributes: AccessCheck } } }) => {
          const a = body.spec.resourceAttributes;
          asked.push(`review ${a.verb} ${a.resource}`);
          return { status: { allowed: false } };
        },
      },
      fail: (err: unknown) => err,
    } as unknown as KubeApis;
    const answers = await canI(apis, [
      { group: '', resource: 'nodes', verb: 'list' },
      { group: '', resource: 'nodes', verb: 'watch' },
      { group: '', resource: 'events', verb: 'create', namespace: 'default' },
      lease,
      { group: '', resource: 'nodes', verb: 'delete' },
    ]);
    assert.deepEqual(answers, [true, true, true, true, false]);
    assert.deepEqual(asked.sort(), [
      'review delete nodes',
      'rules kube-system',
      'rules kubeswap:cluster-role-bindings',
    ]);
  });
});
