// The run lock: a coordination.k8s.io Lease in kube-system holding `<runId>@<host>#<pid>/<process start>`.
// A second run refuses while the lease is held. Expiry is judged as client-go's leader election does:
// by how long this process has watched the lease not change, never by comparing the holder's renewTime
// with our clock (a skewed clock would expire a live lock). A holder on this host whose process is gone
// (a kill -9'd run) may be taken over at once, but only when that is provable: same boot, same pid
// namespace, and the pid absent or started at another time. Every write is guarded by resourceVersion.
import { readFileSync, readlinkSync } from 'node:fs';
import type { Clock } from '../../domain/clock.ts';
import { ConflictError, type KubePort, type LeaseView } from '../../ports/kube.ts';

export const LOCK_NAMESPACE = 'kube-system';
export const LOCK_NAME = 'kubeswap-lock';

export interface HolderIdentity {
  runId: string;
  host: string;
  pid: number;
  /**
   * When and where the process started, `<boot id>.<pid namespace>.<start ticks>`: tells a live holder from a
   * reused pid, and two containers with the same host name apart. Absent in holders of older kubeswaps.
   */
  start?: string;
}

export function formatHolder(holder: HolderIdentity): string {
  return `${holder.runId}@${holder.host}#${holder.pid}${holder.start ? `/${holder.start}` : ''}`;
}

/** Parses `<runId>@<host>#<pid>[/<start>]`; undefined for a holder some other tool wrote. */
export function parseHolder(holder: string): HolderIdentity | undefined {
  const match = /^(.+)@([^@#]+)#(\d+)(?:\/([0-9a-z.]+))?$/.exec(holder);
  if (!match) return undefined;
  return { runId: match[1]!, host: match[2]!, pid: Number(match[3]), ...(match[4] ? { start: match[4] } : {}) };
}

/** What this machine can tell about a process: injectable for tests. */
export interface ProcessProbe {
  /** `<boot id>.<pid namespace>` of this process, or undefined where /proc is not there. */
  space(): string | undefined;
  /** Start time (clock ticks since boot) of a pid in our namespace; undefined when there is no such process. */
  startTicks(pid: number): string | undefined;
}

export const localProcesses: ProcessProbe = {
  space() {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '').slice(0, 12);
      const ns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
      return ns ? `${boot}.${ns}` : undefined;
    } catch {
      return undefined;
    }
  },
  startTicks(pid) {
    try {
      // Field 22 of /proc/<pid>/stat, counted after the command name (which may contain spaces).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    } catch {
      return undefined;
    }
  },
};

/** This process's start, for its holder identity. */
export function processStart(probe: ProcessProbe = localProcesses): string | undefined {
  const space = probe.space();
  const ticks = probe.startTicks(process.pid);
  return space && ticks ? `${space}.${ticks}` : undefined;
}

export interface LockTarget {
  namespace?: string;
  name?: string;
}

export interface LockOptions extends LockTarget {
  holder: string;
  ttlSeconds: number;
  clock: Clock;
  probe?: ProcessProbe;
  /** Told when a lease that looks expired is being watched for a TTL before it is taken over. */
  onWatch?: (holder: string, seconds: number) => void;
}

/** Why a lease is ours to take: free, ours already, its holder process provably dead, or looking stale. */
export type LockState =
  | { kind: 'free' | 'ours' }
  | { kind: 'dead-process'; holder: string }
  /** renewTime + duration is past by our clock: taken over only after watching it not change for a TTL. */
  | { kind: 'stale'; holder: string }
  | { kind: 'held'; holder: string; expiresAt: Date };

export function leaseExpiry(lease: LeaseView): Date | undefined {
  const since = lease.renewTime ?? lease.acquireTime;
  if (!since || lease.leaseDurationSeconds === undefined) return undefined;
  return new Date(since.getTime() + lease.leaseDurationSeconds * 1000);
}

export function lockState(
  lease: LeaseView,
  holder: string,
  now: Date,
  probe: ProcessProbe = localProcesses,
): LockState {
  const current = lease.holderIdentity;
  if (!current) return { kind: 'free' };
  if (current === holder) return { kind: 'ours' };
  if (provablyDead(current, holder, probe)) return { kind: 'dead-process', holder: current };
  const expiresAt = leaseExpiry(lease);
  if (!expiresAt || expiresAt.getTime() <= now.getTime()) return { kind: 'stale', holder: current };
  return { kind: 'held', holder: current, expiresAt };
}

/**
 * Only a holder in our own process space (same host, boot and pid namespace) can be judged: it is dead when
 * its pid is gone or now belongs to a process started at another time. Anything else may be alive.
 */
function provablyDead(current: string, holder: string, probe: ProcessProbe): boolean {
  const theirs = parseHolder(current);
  const mine = parseHolder(holder);
  if (!theirs?.start || !mine?.start || theirs.host !== mine.host) return false;
  const [boot, ns, ticks] = theirs.start.split('.');
  const [myBoot, myNs] = mine.start.split('.');
  if (boot !== myBoot || ns !== myNs || !ticks) return false;
  const now = probe.startTicks(theirs.pid);
  return now === undefined || now !== ticks;
}

export type AcquireResult =
  | { acquired: true; lease: LeaseView; tookOverFrom?: { holder: string; because: 'expired' | 'dead-process' } }
  | { acquired: false; holder: string; expiresAt: Date };

/** How often a stale-looking lease is re-read while it is watched. */
const WATCH_INTERVAL_MS = 1000;

export async function acquireLock(kube: KubePort, options: LockOptions): Promise<AcquireResult> {
  const { namespace = LOCK_NAMESPACE, name = LOCK_NAME, holder, ttlSeconds, clock } = options;
  // Losing a create or replace race means re-reading and judging the winner; a third loss in a row means
  // someone else is actively writing the lease, so refuse rather than spin.
  for (let round = 0; round < 3; round++) {
    const now = clock.now();
    let lease = await kube.getLease(namespace, name);
    if (!lease) {
      const fresh = { namespace, name, holderIdentity: holder, leaseDurationSeconds: ttlSeconds, leaseTransitions: 0 };
      // The create's answer is the Lease as written, resourceVersion included: no read after it (issue 15 §2).
      const created = await kube.createLease({ ...fresh, acquireTime: now, renewTime: now });
      if (created !== 'exists') return { acquired: true, lease: created };
      continue;
    }
    const state = lockState(lease, holder, now, options.probe);
    if (state.kind === 'held') return { acquired: false, holder: state.holder, expiresAt: state.expiresAt };
    if (state.kind === 'stale') {
      const watched = await watchUnchanged(kube, lease, options);
      if (!watched) {
        const current = await kube.getLease(namespace, name);
        return refused(current, clock.now());
      }
      lease = watched;
    }
    const takeover = state.kind !== 'ours';
    const at = clock.now();
    let written: LeaseView;
    try {
      written = await kube.replaceLease({
        ...lease,
        holderIdentity: holder,
        leaseDurationSeconds: ttlSeconds,
        acquireTime: takeover ? at : (lease.acquireTime ?? at),
        renewTime: at,
        leaseTransitions: (lease.leaseTransitions ?? 0) + (takeover ? 1 : 0),
      });
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    if (state.kind === 'stale' || state.kind === 'dead-process') {
      const because = state.kind === 'stale' ? 'expired' : 'dead-process';
      return { acquired: true, lease: written, tookOverFrom: { holder: state.holder, because } };
    }
    return { acquired: true, lease: written };
  }
  return refused(await kube.getLease(namespace, name), clock.now());
}

/**
 * Watches a lease for its whole duration, as this process measures time: unchanged all along, it is expired
 * (returned, for a resourceVersion-guarded take-over); changed (renewed, taken, released) means undefined.
 */
async function watchUnchanged(kube: KubePort, lease: LeaseView, options: LockOptions): Promise<LeaseView | undefined> {
  const { clock } = options;
  const durationMs = (lease.leaseDurationSeconds ?? options.ttlSeconds) * 1000;
  options.onWatch?.(lease.holderIdentity ?? '', durationMs / 1000);
  const since = clock.now().getTime();
  while (clock.now().getTime() - since < durationMs) {
    await clock.sleep(Math.min(WATCH_INTERVAL_MS, durationMs - (clock.now().getTime() - since)));
    const current = await kube.getLease(lease.namespace, lease.name);
    if (current?.resourceVersion !== lease.resourceVersion) return undefined;
  }
  return lease;
}

function refused(lease: LeaseView | undefined, now: Date): AcquireResult {
  return {
    acquired: false,
    holder: lease?.holderIdentity ?? '(unknown)',
    expiresAt: (lease && leaseExpiry(lease)) ?? now,
  };
}

/**
 * `replaced`: the resourceVersion the renewal wrote over (ours, or read as naming us). `replacedOwnWrite`: that version
 * is this very renewal's earlier write, whose answer was lost (a retried request met a conflict with itself): it names
 * us and carries the renewTime we wrote.
 */
export type RenewResult =
  | { renewed: true; lease: LeaseView; replaced: string; replacedOwnWrite: boolean }
  | { renewed: false; holder?: string };

/** Extends our lease; reports who holds it instead when it was taken over (our run must stop acting). */
export async function renewLock(
  kube: KubePort,
  /** `last`: the Lease as we last wrote it; replaced without a read (a conflict means someone wrote since). */
  options: LockTarget & { holder: string; ttlSeconds: number; now: Date; last?: LeaseView },
): Promise<RenewResult> {
  const { namespace = LOCK_NAMESPACE, name = LOCK_NAME, holder, ttlSeconds, now } = options;
  for (let round = 0; round < 2; round++) {
    const lease = round === 0 && options.last ? options.last : await kube.getLease(namespace, name);
    if (lease?.holderIdentity !== holder) return { renewed: false, holder: lease?.holderIdentity };
    try {
      return {
        renewed: true,
        lease: await kube.replaceLease({ ...lease, leaseDurationSeconds: ttlSeconds, renewTime: now }),
        replaced: lease.resourceVersion,
        replacedOwnWrite: round > 0 && lease.renewTime?.getTime() === now.getTime(),
      };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  const lease = await kube.getLease(namespace, name);
  return { renewed: false, holder: lease?.holderIdentity };
}

/**
 * Gives the lock up if we hold it. Like client-go's leader election on release, the Lease stays with
 * an empty holder and a 1 s duration rather than being deleted, so the write stays resourceVersion-guarded.
 */
export async function releaseLock(
  kube: KubePort,
  options: LockTarget & { holder: string; now: Date },
): Promise<'released' | 'not-held'> {
  const { namespace = LOCK_NAMESPACE, name = LOCK_NAME, holder, now } = options;
  const lease = await kube.getLease(namespace, name);
  if (lease?.holderIdentity !== holder) return 'not-held';
  try {
    await kube.replaceLease({ ...lease, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now });
    return 'released';
  } catch (err) {
    if (err instanceof ConflictError) return 'not-held';
    throw err;
  }
}

export type BreakResult = { broken: boolean; holder?: string };

/**
 * `kubeswap unlock`: clears whoever holds the lock. With `expectHolder` (what `status` showed the person),
 * a lock that changed hands meanwhile is left alone.
 */
export async function breakLock(
  kube: KubePort,
  options: LockTarget & { now: Date; expectHolder?: string },
): Promise<BreakResult> {
  const { namespace = LOCK_NAMESPACE, name = LOCK_NAME, now, expectHolder } = options;
  const lease = await kube.getLease(namespace, name);
  if (!lease?.holderIdentity) return { broken: false };
  if (expectHolder !== undefined && lease.holderIdentity !== expectHolder) {
    return { broken: false, holder: lease.holderIdentity };
  }
  try {
    await kube.replaceLease({ ...lease, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now });
    return { broken: true, holder: lease.holderIdentity };
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const current = await kube.getLease(namespace, name);
    return { broken: false, holder: current?.holderIdentity };
  }
}
