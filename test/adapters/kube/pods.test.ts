import assert from 'node:assert/strict';
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { toDisruptionBudgetView, toPodOnNode } from '../../../src/adapters/kube/pods.ts';
import { budgetSelects, budgetsBlocking } from '../../../src/engine/act/budgets.ts';
import type { DisruptionBudgetView } from '../../../src/ports/kube.ts';

const pod = (labels: Record<string, string>, namespace = 'apps') => ({ namespace, labels });
const budget = (over: Partial<DisruptionBudgetView>): DisruptionBudgetView => ({
  namespace: 'apps',
  name: 'web',
  disruptionsAllowed: 0,
  currentHealthy: 2,
  desiredHealthy: 2,
  matchLabels: {},
  ...over,
});

describe('toPodOnNode', () => {
  it('flags DaemonSet-owned pods and mirror pods, which a drain skips', () => {
    const ds: V1Pod = {
      metadata: {
        name: 'kube-proxy-x',
        namespace: 'kube-system',
        uid: 'u1',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'kube-proxy', uid: 'd', controller: true }],
      },
      status: { phase: 'Running' },
    };
    const mirror: V1Pod = {
      metadata: {
        name: 'etcd-cp-1',
        namespace: 'kube-system',
        uid: 'u2',
        annotations: { 'kubernetes.io/config.mirror': 'h' },
      },
    };
    const web: V1Pod = { metadata: { name: 'web-1', namespace: 'apps', uid: 'u3', labels: { app: 'web' } } };
    assert.deepEqual(
      [ds, mirror, web].map(toPodOnNode).map((p) => [p.name, p.daemonSet, p.mirror]),
      [
        ['kube-proxy-x', true, false],
        ['etcd-cp-1', false, true],
        ['web-1', false, false],
      ],
    );
    assert.equal(toPodOnNode(web).phase, 'Unknown');
    assert.deepEqual(toPodOnNode(web).labels, { app: 'web' });
  });
});

describe('toDisruptionBudgetView', () => {
  it('maps status counts and the selector', () => {
    const pdb: V1PodDisruptionBudget = {
      metadata: { namespace: 'apps', name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'Exists' }] } },
      status: { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 },
    };
    assert.deepEqual(toDisruptionBudgetView(pdb), {
      namespace: 'apps',
      name: 'web',
      disruptionsAllowed: 1,
      currentHealthy: 3,
      desiredHealthy: 2,
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'Exists', values: [] }],
      selectsNone: undefined,
    });
  });

  it('reads a budget without status (no controller manager) as allowing no disruption', () => {
    const view = toDisruptionBudgetView({ metadata: { namespace: 'a', name: 'b' }, spec: { selector: {} } });
    assert.equal(view.disruptionsAllowed, 0);
    assert.equal(view.selectsNone, undefined);
  });

  it('marks a budget without any selector as selecting nothing', () => {
    assert.equal(toDisruptionBudgetView({ metadata: { namespace: 'a', name: 'b' }, spec: {} }).selectsNone, true);
  });
});

describe('budgetSelects', () => {
  const cases: [string, DisruptionBudgetView, ReturnType<typeof pod>, boolean][] = [
    ['matching labels', budget({ matchLabels: { app: 'web' } }), pod({ app: 'web', v: '1' }), true],
    ['a differing label value', budget({ matchLabels: { app: 'web' } }), pod({ app: 'db' }), false],
    ['another namespace', budget({ matchLabels: { app: 'web' } }), pod({ app: 'web' }, 'other'), false],
    ['an empty selector (every pod in policy/v1)', budget({}), pod({ any: 'x' }), true],
    ['no selector at all', budget({ selectsNone: true }), pod({ app: 'web' }), false],
    [
      'In',
      budget({ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }),
      pod({ app: 'api' }),
      true,
    ],
    [
      'In, label missing',
      budget({ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }),
      pod({}),
      false,
    ],
    [
      'NotIn, label missing',
      budget({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }),
      pod({}),
      true,
    ],
    [
      'NotIn, excluded value',
      budget({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }),
      pod({ app: 'web' }),
      false,
    ],
    ['Exists', budget({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }), pod({ app: '' }), true],
    [
      'DoesNotExist',
      budget({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }),
      pod({ app: 'x' }),
      false,
    ],
    [
      'labels and expressions together',
      budget({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'track', operator: 'In', values: ['canary'] }] }),
      pod({ app: 'web', track: 'stable' }),
      false,
    ],
  ];
  for (const [name, b, p, expected] of cases) {
    it(`${expected ? 'selects' : 'does not select'} a pod with ${name}`, () => {
      assert.equal(budgetSelects(b, p), expected);
    });
  }

  it('names every budget that selects a pod as namespace/name', () => {
    const budgets = [
      budget({ name: 'a', matchLabels: { app: 'web' } }),
      budget({ name: 'b', matchLabels: { app: 'db' } }),
      budget({ name: 'c' }),
    ];
    assert.deepEqual(budgetsBlocking(pod({ app: 'web' }), budgets), ['apps/a', 'apps/c']);
  });
});
