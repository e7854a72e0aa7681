// Membership changes, each starting with "already done?" (KCP RemoveEtcdMember / ForwardEtcdLeadership):
// removing a gone member succeeds, moving leadership to the leader is a no-op.

import { agreedLeader } from '../../domain/etcd.ts';
import type { EtcdMember } from '../../domain/model.ts';
import type { EndpointStatus } from './connection.ts';
import { EtcdError, isMemberNotFound } from './errors.ts';
import { describeMember, normalizeEndpoint } from './members.ts';
import { type EndpointPool, isTransportFailure } from './pool.ts';

interface Located {
  endpoint: string;
  status: EndpointStatus;
}

/** Every endpoint worth asking: the configured ones first, then what the members advertise. */
export function candidateEndpoints(configured: readonly string[], members: readonly EtcdMember[]): string[] {
  const all = [...configured, ...members.flatMap((m) => m.clientUrls)].map(normalizeEndpoint);
  return [...new Set(all)];
}

async function statuses(pool: EndpointPool, endpoints: readonly string[]): Promise<Located[]> {
  const answers = await Promise.allSettled(
    endpoints.map(async (endpoint) => ({ endpoint, status: await pool.use(endpoint, (c) => c.status()) })),
  );
  return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
}

/**
 * MoveLeader is only accepted by the current leader ("etcdserver: not leader" elsewhere), so find the
 * endpoint whose member leads and send it there. One re-check covers an election that happened meanwhile.
 */
export async function moveLeader(
  pool: EndpointPool,
  members: readonly EtcdMember[],
  configured: readonly string[],
  targetId: string,
): Promise<void> {
  const target = members.find((m) => m.id === targetId);
  if (!target) {
    throw new EtcdError('etcd.member-not-found', `cannot move etcd leadership to ${targetId}: no such member`);
  }
  if (target.isLearner || !target.name) {
    throw new EtcdError(
      'etcd.target-not-voter',
      `cannot move etcd leadership to ${describeMember(target)}: not a started voting member`,
    );
  }
  const endpoints = candidateEndpoints(configured, members);
  for (let attempt = 1; ; attempt++) {
    const located = await statuses(pool, endpoints);
    const leaderId = agreedLeader(located.map((l) => l.status.leaderId));
    if (leaderId === targetId) return;
    const leader = located.find((l) => l.status.memberId === leaderId);
    if (!leaderId || !leader) {
      throw new EtcdError(
        'etcd.leader-unknown',
        leaderId
          ? `cannot move etcd leadership: leader ${leaderId} answers at none of ${endpoints.join(', ')}`
          : `cannot move etcd leadership: no endpoint reports a leader (${located.length}/${endpoints.length} answered)`,
      );
    }
    try {
      await pool.use(leader.endpoint, (c) => c.moveLeader(targetId));
      return;
    } catch (err) {
      if (!(err instanceof EtcdError && err.code === 'etcd.not-leader') || attempt >= 2) throw err;
    }
  }
}

/**
 * Removes `id` through a member other than the one removed (its own endpoint may already be gone, and
 * a member asked to remove itself stops answering mid-call). A member that is already gone is success;
 * the last member is never removed. etcd itself refuses a removal that would lose quorum of started members.
 */
export async function removeMember(
  pool: EndpointPool,
  members: readonly EtcdMember[],
  configured: readonly string[],
  id: string,
): Promise<'removed' | 'gone'> {
  const member = members.find((m) => m.id === id);
  if (!member) return 'gone';
  if (members.length === 1) {
    throw new EtcdError('etcd.last-member', `refusing to remove ${describeMember(member)}: it is the last etcd member`);
  }
  const own = new Set(member.clientUrls.map(normalizeEndpoint));
  const others = candidateEndpoints(
    configured,
    members.filter((m) => m.id !== id),
  ).filter((e) => !own.has(e));
  const failures: string[] = [];
  let refusal: EtcdError | undefined;
  for (const endpoint of others) {
    let outcome: 'removed' | 'same-member';
    try {
      outcome = await pool.use(endpoint, async (connection) => {
        // A configured endpoint (a VIP, a hostname) may still lead to the member being removed.
        if ((await connection.status()).memberId === id) return 'same-member';
        await connection.removeMember(id);
        return 'removed';
      });
    } catch (err) {
      // A lost answer to an applied removal shows up here on the next endpoint as "member not found".
      if (isMemberNotFound(err)) return 'gone';
      // "unhealthy cluster" is judged by the serving member (its own peer connections): another may accept.
      if (err instanceof EtcdError && err.code === 'etcd.cluster-unhealthy') refusal = err;
      // Anything else etcd refused (e.g. not enough started members) would be refused everywhere.
      else if (!isTransportFailure(err)) throw err;
      failures.push((err as Error).message);
      continue;
    }
    if (outcome === 'removed') return 'removed';
    failures.push(`${endpoint} is served by the member being removed`);
  }
  if (refusal) throw refusal;
  throw new EtcdError(
    'etcd.no-other-member',
    `cannot remove ${describeMember(member)}: no other member answered (${failures.join('; ') || 'no endpoints'})`,
  );
}
