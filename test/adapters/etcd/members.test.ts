import assert from 'node:assert/strict';
import {
  endpointsFromMembers,
  memberIdFromHex,
  memberIdHex,
  normalizeEndpoint,
  toAlarms,
  toMember,
} from '../../../src/adapters/etcd/members.ts';
import { agreedLeader } from '../../../src/domain/etcd.ts';

describe('etcd member identity', () => {
  it('converts a uint64 id beyond 2^53 to hex and back without losing precision', () => {
    assert.equal(memberIdHex('13510015062231200447'), 'bb7d371eb677b2bf');
    assert.equal(memberIdFromHex('bb7d371eb677b2bf'), '13510015062231200447');
    assert.equal(memberIdFromHex('0xbb7d371eb677b2bf'), '13510015062231200447');
  });

  it('maps an etcd3 member to ours with normalized client URLs', () => {
    const member = toMember({
      ID: '13510015062231200447',
      name: 'cp-a',
      peerURLs: ['https://10.0.0.1:2380'],
      clientURLs: ['https://10.0.0.1:2379/'],
    });
    assert.deepEqual(member, {
      id: '13510015062231200447',
      name: 'cp-a',
      peerUrls: ['https://10.0.0.1:2380'],
      clientUrls: ['https://10.0.0.1:2379'],
      isLearner: false,
    });
  });

  it('keeps an unstarted learner nameless and without client URLs', () => {
    const member = toMember({
      ID: '5',
      name: '',
      peerURLs: ['https://10.0.0.4:2380'],
      clientURLs: [],
      isLearner: true,
    });
    assert.deepEqual(member, {
      id: '5',
      name: '',
      peerUrls: ['https://10.0.0.4:2380'],
      clientUrls: [],
      isLearner: true,
    });
  });

  it('discovers every member client URL once, in member order', () => {
    const members = [
      toMember({ ID: '1', name: 'a', peerURLs: [], clientURLs: ['https://10.0.0.1:2379', 'https://127.0.0.1:2379'] }),
      toMember({ ID: '2', name: '', peerURLs: [], clientURLs: [] }),
      toMember({ ID: '3', name: 'c', peerURLs: [], clientURLs: ['https://10.0.0.3:2379', 'https://10.0.0.1:2379'] }),
    ];
    assert.deepEqual(endpointsFromMembers(members), [
      'https://10.0.0.1:2379',
      'https://127.0.0.1:2379',
      'https://10.0.0.3:2379',
    ]);
  });

  it('reads a bare host:port endpoint as https', () =>
    assert.equal(normalizeEndpoint('10.0.0.1:2379'), 'https://10.0.0.1:2379'));

  it('names alarms as etcdctl does and ignores None', () => {
    assert.deepEqual(
      toAlarms([
        { memberID: '7', alarm: 'Nospace' },
        { memberID: '8', alarm: 'Corrupt' },
        { memberID: '9', alarm: 'None' },
      ]),
      [
        { memberId: '7', alarm: 'NOSPACE' },
        { memberId: '8', alarm: 'CORRUPT' },
      ],
    );
  });

  const leaders = [
    { name: 'picks the leader most members report', ids: ['2', '2', '3'], leader: '2' },
    { name: 'ignores 0, which etcd reports during an election', ids: ['0', '0', '3'], leader: '3' },
    { name: 'breaks a tie by the smaller id, whatever the answer order', ids: ['9', '3'], leader: '3' },
    { name: 'knows no leader when nobody answered', ids: [undefined, '0'], leader: undefined },
  ];
  for (const c of leaders) it(c.name, () => assert.equal(agreedLeader(c.ids), c.leader));
});
