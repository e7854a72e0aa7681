// Quorum projection before any etcd membership change (KCP targetEtcdClusterHealthy): build the
// member set the change would leave, and proceed only if it keeps a healthy majority.
import type { EtcdMember } from '../../domain/model.ts';
import { memberHealth, type Snapshot } from '../observe/snapshot.ts';

export interface Projection {
  safe: boolean;
  voting: number;
  unhealthy: number;
  quorum: number;
  reason?: string;
}

export function projectRemoval(s: Snapshot, removed: EtcdMember): Projection {
  const target = s.etcd.members.filter((m) => m.id !== removed.id);
  if (target.length === 0) return { safe: false, voting: 0, unhealthy: 0, quorum: 1, reason: 'it is the last member' };
  // Removing a learner never touches quorum.
  if (removed.isLearner)
    return { safe: true, voting: target.filter((m) => !m.isLearner).length, unhealthy: 0, quorum: 0 };
  const voters = target.filter((m) => !m.isLearner);
  const unhealthy = voters.filter((m) => !m.name || memberHealth(s, m.id)?.healthy !== true).length;
  const quorum = Math.floor(voters.length / 2) + 1;
  const learners = target.length - voters.length;
  if (learners > 0) {
    return { safe: false, voting: voters.length, unhealthy, quorum, reason: `${learners} learner(s) would remain` };
  }
  const safe = voters.length - unhealthy >= quorum;
  return {
    safe,
    voting: voters.length,
    unhealthy,
    quorum,
    reason: safe
      ? undefined
      : `${voters.length - unhealthy} healthy of ${voters.length} voters after removal, quorum needs ${quorum}`,
  };
}
