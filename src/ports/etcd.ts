// The narrow port over etcd the engine uses. Implemented over etcd3 (src/adapters/etcd/client.ts) with one
// client per endpoint and a real deadline on every call: etcd3's dialTimeout does nothing.
import type { EtcdAlarm, EtcdEndpointHealth, EtcdMember } from '../domain/model.ts';

export interface EtcdTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface EtcdPort {
  /** Member list through any reachable endpoint (linearizable). */
  memberList(): Promise<EtcdMember[]>;
  /** Per endpoint, as `etcdctl endpoint health` plus status (leader, learner, member id). Never throws. */
  health(endpoints: string[]): Promise<EtcdEndpointHealth[]>;
  /**
   * The member list and the health of every endpoint it names, in one round: the endpoints the last list named are
   * checked beside the list itself, and only endpoints it adds are checked after it. Throws as memberList does.
   */
  memberHealth(): Promise<{ members: EtcdMember[]; health: EtcdEndpointHealth[] }>;
  alarms(): Promise<EtcdAlarm[]>;
  /** Sends MoveLeader to the current leader's endpoint. No-op when the target already leads. */
  moveLeader(targetId: string): Promise<void>;
  /** Removes by id through an endpoint of another member. Succeeds when the member is already gone. */
  removeMember(id: string): Promise<void>;
  /** Streams a snapshot to `file` (written to a temp name, then renamed). */
  snapshot(file: string): Promise<{ file: string; bytes: number; revision?: string }>;
  /** Endpoints the port talks to (discovered or configured). */
  endpoints(): string[];
  close(): void;
}
