// Member identity and endpoint discovery. etcd member IDs are uint64: etcd3 hands them over as decimal
// strings and etcdctl prints them in hex, so both forms stay strings and never become JS numbers.
import type { EtcdAlarm, EtcdAlarmType, EtcdMember } from '../../domain/model.ts';

/** Hex form of a decimal member id, as `etcdctl member list` and etcd's logs print it. */
export function memberIdHex(id: string): string {
  return BigInt(id).toString(16);
}

/** Decimal form of an id given in hex (as copied from etcdctl output) or decimal. */
export function memberIdFromHex(hex: string): string {
  return BigInt(`0x${hex.replace(/^0x/i, '')}`).toString(10);
}

/** Human label for events and errors: `name (hex id)`, or `unstarted (hex id)`. */
export function describeMember(member: Pick<EtcdMember, 'id' | 'name'>): string {
  return `${member.name || 'unstarted'} (${memberIdHex(member.id)})`;
}

/** The members' client URLs, deduplicated and in member order: the endpoints to talk to every member. */
export function endpointsFromMembers(members: readonly EtcdMember[]): string[] {
  const endpoints = new Set<string>();
  for (const member of members) for (const url of member.clientUrls) endpoints.add(normalizeEndpoint(url));
  return [...endpoints];
}

/** `127.0.0.1:2379` -> `https://127.0.0.1:2379`; trailing slashes removed so equal endpoints compare equal. */
export function normalizeEndpoint(endpoint: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  return withScheme.replace(/\/+$/, '');
}

export interface RawMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner?: boolean;
}

export function toMember(raw: RawMember): EtcdMember {
  return {
    id: String(raw.ID),
    name: raw.name ?? '',
    peerUrls: [...(raw.peerURLs ?? [])],
    clientUrls: (raw.clientURLs ?? []).map(normalizeEndpoint),
    isLearner: raw.isLearner === true,
  };
}

const ALARM_TYPES: Record<string, EtcdAlarmType> = { Nospace: 'NOSPACE', Corrupt: 'CORRUPT' };

/** etcd3 names alarms after its enum keys (`Nospace`, `Corrupt`); `None` is not an alarm. */
export function toAlarms(raw: ReadonlyArray<{ memberID: string; alarm: string }>): EtcdAlarm[] {
  const alarms: EtcdAlarm[] = [];
  for (const entry of raw) {
    const alarm = ALARM_TYPES[entry.alarm];
    if (alarm) alarms.push({ memberId: String(entry.memberID), alarm });
  }
  return alarms;
}
