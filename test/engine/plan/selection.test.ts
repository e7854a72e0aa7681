// Table tests for the selection order (README "Order"): marked first, then unhealthy, then outdated;
// within a group the oldest Node first, ties by name. And the reasons each machine is replaced.
import assert from 'node:assert/strict';
import { controlPlaneMachines, type Snapshot } from '../../../src/engine/observe/snapshot.ts';
import { orderCandidates, REPLACE_ANNOTATION } from '../../../src/engine/plan/selection.ts';
import { cluster, desired, editNode, NEW_IMAGE, RUN, setMachine, TO } from '../builders.ts';

const order = (s: Snapshot, d = desired()) => orderCandidates(controlPlaneMachines(s), d, RUN).map((c) => c.cp.name);
const reasons = (s: Snapshot, name: string, d = desired()) =>
  orderCandidates(controlPlaneMachines(s), d, RUN)
    .find((c) => c.cp.name === name)
    ?.reasons.map((r) => r.code) ?? [];
const base = () => cluster(['cp-a', 'cp-b', 'cp-c']);
const atTarget = (s: Snapshot) =>
  s.nodes.reduce(
    (acc, n) =>
      setMachine(editNode(acc, n.name, { kubeletVersion: TO }), `i-${n.name}`, { imageId: NEW_IMAGE, drift: [] }),
    s,
  );

describe('selection order', () => {
  const rows: [string, (s: Snapshot) => Snapshot, string[]][] = [
    ['outdated machines, oldest Node first', (s) => s, ['cp-a', 'cp-b', 'cp-c']],
    [
      'a marked machine first',
      (s) => editNode(s, 'cp-c', { annotations: { [REPLACE_ANNOTATION]: '' } }),
      ['cp-c', 'cp-a', 'cp-b'],
    ],
    [
      'an unhealthy machine before the healthy ones',
      (s) => editNode(s, 'cp-b', { ready: false }),
      ['cp-b', 'cp-a', 'cp-c'],
    ],
    [
      'ties on age broken by name',
      (s) => s.nodes.reduce((acc, n) => editNode(acc, n.name, { createdAt: new Date(0) }), s),
      ['cp-a', 'cp-b', 'cp-c'],
    ],
    ['nothing when every machine matches', atTarget, []],
    [
      'a machine at the target is skipped',
      (s) => (atTarget(s).nodes.length ? editNode(atTarget(s), 'cp-b', { kubeletVersion: 'v1.36.3' }) : s),
      ['cp-b'],
    ],
  ];
  for (const [name, edit, want] of rows) it(name, () => assert.deepEqual(order(edit(base())), want));
});

describe('replacement reasons', () => {
  it('names the kubelet version and the provider drift (image)', () => {
    assert.deepEqual(reasons(base(), 'cp-a'), ['kubelet-version', 'image']);
  });
  it('adds unhealthy first only when the machine needs replacing anyway', () => {
    assert.deepEqual(reasons(editNode(base(), 'cp-a', { ready: false }), 'cp-a'), [
      'unhealthy',
      'kubelet-version',
      'image',
    ]);
    assert.deepEqual(reasons(editNode(atTarget(base()), 'cp-a', { ready: false }), 'cp-a'), []);
  });
  it("--force replaces matching machines, never this run's own replacements", () => {
    const s = atTarget(base());
    assert.deepEqual(reasons(s, 'cp-a', desired({ force: true })), ['forced']);
    const own = setMachine(s, 'i-cp-a', { runId: RUN });
    assert.deepEqual(reasons(own, 'cp-a', desired({ force: true })), []);
  });
});
