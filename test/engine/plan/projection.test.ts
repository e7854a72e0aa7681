// Table tests for the quorum projection (KCP targetEtcdClusterHealthy): the member set a removal
// would leave must keep a healthy majority of voters.
import assert from 'node:assert/strict';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import { projectRemoval } from '../../../src/engine/plan/projection.ts';
import { cluster, member } from '../builders.ts';

const sick = (s: Snapshot, ...names: string[]): Snapshot => {
  const ids = new Set(s.etcd.members.filter((m) => names.includes(m.name)).map((m) => m.id));
  return {
    ...s,
    etcd: { ...s.etcd, endpoints: s.etcd.endpoints.map((e) => (ids.has(e.memberId!) ? { ...e, healthy: false } : e)) },
  };
};
const named = (s: Snapshot, name: string) => s.etcd.members.find((m) => m.name === name)!;

const rows: { name: string; s: Snapshot; remove: string; safe: boolean; reason?: RegExp }[] = [
  { name: '3 healthy voters, remove one', s: cluster(['a', 'b', 'c']), remove: 'a', safe: true },
  {
    name: '4 voters, one unhealthy, remove a healthy one',
    s: sick(cluster(['a', 'b', 'c', 'd']), 'd'),
    remove: 'a',
    safe: true,
  },
  {
    name: '3 voters, one unhealthy, remove a healthy one',
    s: sick(cluster(['a', 'b', 'c']), 'c'),
    remove: 'a',
    safe: false,
    reason: /1 healthy of 2 voters after removal, quorum needs 2/,
  },
  { name: '3 voters, remove the unhealthy one', s: sick(cluster(['a', 'b', 'c']), 'c'), remove: 'c', safe: true },
  { name: 'the last member', s: cluster(['a']), remove: 'a', safe: false, reason: /last member/ },
  { name: '2 healthy voters, remove one', s: cluster(['a', 'b']), remove: 'a', safe: true },
];

describe('quorum projection', () => {
  for (const row of rows) {
    it(`${row.name}: ${row.safe ? 'safe' : 'refused'}`, () => {
      const p = projectRemoval(row.s, named(row.s, row.remove));
      assert.equal(p.safe, row.safe, p.reason);
      if (row.reason) assert.match(p.reason ?? '', row.reason);
    });
  }

  it('removing a learner never touches quorum', () => {
    const s = cluster(['a', 'b', 'c']);
    const learner = member('', { isLearner: true });
    const withLearner = { ...s, etcd: { ...s.etcd, members: [...s.etcd.members, learner] } };
    assert.equal(projectRemoval(withLearner, learner).safe, true);
  });

  it('refuses while a learner would remain beside the voters', () => {
    const s = cluster(['a', 'b', 'c']);
    const withLearner = { ...s, etcd: { ...s.etcd, members: [...s.etcd.members, member('', { isLearner: true })] } };
    assert.match(projectRemoval(withLearner, named(s, 'a')).reason ?? '', /1 learner\(s\) would remain/);
  });
});
