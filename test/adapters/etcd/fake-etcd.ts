// An in-memory etcd cluster behind the EndpointConnection interface: members with endpoints, a leader,
// alarms, and endpoints that are down. Answers the way etcd does (moveLeader only on the leader,
// memberRemove of an unknown id = "member not found"), so port logic is tested without a server.

import type {
  ConnectEndpoint,
  EndpointConnection,
  EndpointStatus,
  SnapshotChunk,
} from '../../../src/adapters/etcd/connection.ts';
import { EtcdError } from '../../../src/adapters/etcd/errors.ts';
import type { EtcdAlarm, EtcdMember } from '../../../src/domain/model.ts';

export interface FakeMember extends EtcdMember {
  down?: boolean;
}

export class FakeEtcd {
  members: FakeMember[];
  leaderId: string;
  alarms: EtcdAlarm[] = [];
  calls: string[] = [];
  closed: string[] = [];
  snapshotChunks: Buffer[] = [Buffer.from('snap-'), Buffer.from('shot')];

  constructor(count: number) {
    this.members = Array.from({ length: count }, (_, i) => ({
      id: `1000000000000000000${i + 1}`,
      name: `cp-${String.fromCharCode(97 + i)}`,
      peerUrls: [`https://10.0.0.${i + 1}:2380`],
      clientUrls: [`https://10.0.0.${i + 1}:2379`],
      isLearner: false,
    }));
    this.leaderId = this.members[0]!.id;
  }

  member(index: number): FakeMember {
    return this.members[index]!;
  }

  connector(): ConnectEndpoint {
    return (endpoint) => this.connection(endpoint);
  }

  private memberAt(endpoint: string): FakeMember {
    const member = this.members.find((m) => m.clientUrls.includes(endpoint));
    if (!member || member.down) throw new EtcdError('etcd.unreachable', `${endpoint}: unreachable`, { endpoint });
    return member;
  }

  connection(endpoint: string): EndpointConnection {
    const call = async <T>(name: string, answer: (member: FakeMember) => T): Promise<T> => {
      this.calls.push(`${name} ${endpoint}`);
      return answer(this.memberAt(endpoint));
    };
    return {
      endpoint,
      status: () =>
        call(
          'status',
          (m): EndpointStatus => ({
            memberId: m.id,
            leaderId: this.leaderId,
            isLearner: m.isLearner,
            version: '3.6.16',
            dbSizeBytes: '20480',
            dbSizeInUseBytes: '16384',
            raftTerm: '2',
            raftIndex: '8',
            errors: [],
          }),
        ),
      readHealthKey: () =>
        call('get health', (m) => {
          if (m.isLearner) throw new EtcdError('etcd.request-failed', 'rpc not supported for learner');
        }),
      memberList: () => call('member list', () => this.members.map(({ down: _down, ...m }) => ({ ...m }))),
      alarms: () => call('alarm list', () => [...this.alarms]),
      moveLeader: (targetId) =>
        call('move leader', (m) => {
          if (m.id !== this.leaderId) throw new EtcdError('etcd.not-leader', 'not leader', { endpoint });
          this.leaderId = targetId;
        }),
      removeMember: (id) =>
        call(`remove ${id} via`, () => {
          if (!this.members.some((x) => x.id === id))
            throw new EtcdError('etcd.member-not-found', 'member not found', { endpoint });
          this.members = this.members.filter((x) => x.id !== id);
        }),
      snapshot: (_timeoutMs) => this.snapshotStream(endpoint),
      close: () => {
        this.closed.push(endpoint);
      },
    };
  }

  private async *snapshotStream(endpoint: string): AsyncIterable<SnapshotChunk> {
    this.calls.push(`snapshot ${endpoint}`);
    this.memberAt(endpoint);
    let first = true;
    for (const blob of this.snapshotChunks) {
      yield first ? { blob, revision: '42' } : { blob };
      first = false;
    }
  }
}
