// Endpoint health as `etcdctl endpoint health` (etcdctl v3.6 ctlv3/command/ep_command.go) defines it,
// plus the endpoint's status (member id, leader, learner) so one pass answers both questions.
import type { EtcdAlarm, EtcdEndpointHealth } from '../../domain/model.ts';
import type { EndpointConnection, EndpointStatus } from './connection.ts';

export type Stopwatch = () => number;

/**
 * Runs the three calls concurrently so the whole check is bounded by one call deadline:
 * - a linearizable GET of `health` (it needs a quorum via ReadIndex; permission denied still counts),
 * - AlarmList: etcdctl 3.6 marks the endpoint unhealthy on ANY active alarm (NOSPACE too) and when the
 *   alarm list cannot be read,
 * - Status, for the member id, its leader and whether it is a learner (learners refuse linearizable reads,
 *   so a learner reads as unhealthy, as with etcdctl).
 */
export async function checkEndpoint(
  connection: EndpointConnection,
  stopwatch: Stopwatch = performance.now.bind(performance),
): Promise<EtcdEndpointHealth> {
  const started = stopwatch();
  const [read, alarms, status] = await Promise.allSettled([
    connection.readHealthKey(),
    connection.alarms(),
    connection.status(),
  ]);
  const tookMs = Math.round(stopwatch() - started);
  const result: EtcdEndpointHealth = { endpoint: connection.endpoint, healthy: false, tookMs };
  if (status.status === 'fulfilled') Object.assign(result, statusFields(status.value));
  if (alarms.status === 'fulfilled') result.alarms = alarms.value;

  if (read.status === 'rejected') return { ...result, error: messageOf(read.reason) };
  if (alarms.status === 'rejected')
    return { ...result, error: `unable to fetch the alarm list: ${messageOf(alarms.reason)}` };
  if (alarms.value.length > 0) return { ...result, error: `active alarm(s): ${alarmNames(alarms.value)}` };
  return { ...result, healthy: true };
}

function statusFields(status: EndpointStatus): Pick<EtcdEndpointHealth, 'memberId' | 'leaderId' | 'isLearner'> {
  // etcd reports leader 0 while an election is in progress: that is "no leader", not a member id.
  return {
    memberId: status.memberId,
    ...(status.leaderId !== '0' ? { leaderId: status.leaderId } : {}),
    isLearner: status.isLearner,
  };
}

function alarmNames(alarms: readonly EtcdAlarm[]): string {
  return [...new Set(alarms.map((a) => a.alarm))].join(' ');
}

function messageOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
