// Table tests for the health gate (notes/kubernetes.md §4.1): each row breaks one condition of a healthy
// 3-machine cluster and names the reason the gate must give.
import assert from 'node:assert/strict';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import { evaluateGate } from '../../../src/engine/plan/gate.ts';
import { cluster, editNode, member } from '../builders.ts';

const healthy = () => cluster(['cp-a', 'cp-b', 'cp-c']);
const unhealthyEndpoint = (s: Snapshot, i: number): Snapshot => ({
  ...s,
  etcd: {
    ...s.etcd,
    endpoints: s.etcd.endpoints.map((e, j) => (j === i ? { ...e, healthy: false, error: 'deadline' } : e)),
  },
});

const rows: [string, (s: Snapshot) => Snapshot, RegExp][] = [
  ['a Node that is not Ready', (s) => editNode(s, 'cp-b', { ready: false }), /node cp-b is not Ready/],
  [
    'a static pod that is not Ready',
    (s) =>
      editNode(s, 'cp-a', {
        staticPods: {
          ...s.nodes[0]!.staticPods,
          'kube-apiserver': { component: 'kube-apiserver', name: 'kube-apiserver-cp-a', ready: false },
        },
      }),
    /static pod kube-apiserver-cp-a is not Ready/,
  ],
  [
    'a missing static pod',
    (s) => editNode(s, 'cp-c', { staticPods: { ...s.nodes[2]!.staticPods, etcd: undefined } }),
    /static pod etcd-cp-c is missing/,
  ],
  [
    'a node without an etcd member',
    (s) => ({ ...s, etcd: { ...s.etcd, members: s.etcd.members.filter((m) => m.name !== 'cp-c') } }),
    /node cp-c has no etcd member/,
  ],
  [
    'a learner',
    (s) => ({
      ...s,
      etcd: { ...s.etcd, members: s.etcd.members.map((m) => (m.name === 'cp-b' ? { ...m, isLearner: true } : m)) },
    }),
    /etcd member cp-b is still a learner/,
  ],
  [
    "an unstarted member (someone else's crashed join)",
    (s) => ({ ...s, etcd: { ...s.etcd, members: [...s.etcd.members, member('', { clientUrls: [] })] } }),
    /has not started/,
  ],
  [
    'an alarm',
    (s) => ({ ...s, etcd: { ...s.etcd, alarms: [{ memberId: s.etcd.members[0]!.id, alarm: 'NOSPACE' }] } }),
    /etcd alarm NOSPACE/,
  ],
  ['an unhealthy endpoint', (s) => unhealthyEndpoint(s, 1), /is unhealthy: deadline/],
  [
    'no leader',
    (s) => ({ ...s, etcd: { ...s.etcd, endpoints: s.etcd.endpoints.map((e) => ({ ...e, leaderId: undefined })) } }),
    /etcd has no leader/,
  ],
  [
    'endpoints that disagree on the leader',
    (s) => ({
      ...s,
      etcd: { ...s.etcd, endpoints: s.etcd.endpoints.map((e, i) => (i === 2 ? { ...e, leaderId: e.memberId } : e)) },
    }),
    /disagree on the leader/,
  ],
];

describe('health gate', () => {
  it('holds on a healthy cluster', () => {
    assert.deepEqual(evaluateGate(healthy()), { ok: true, reasons: [] });
  });
  for (const [name, breakIt, reason] of rows) {
    it(`fails on ${name}`, () => {
      const result = evaluateGate(breakIt(healthy()));
      assert.equal(result.ok, false);
      assert.ok(
        result.reasons.some((r) => reason.test(r)),
        result.reasons.join('; '),
      );
    });
  }
});
