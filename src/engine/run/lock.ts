// The run lock: a coordination.k8s.io Lease in kube-system holding `<runId>@<host>#<pid>`. A second run
// refuses while the lease is held and fresh. Two kinds of stale lease may be taken over: an expired one,
// and one held by a process on this very host that no longer exists (a kill -9'd run), which would
// otherwise block re-runs for a whole TTL. Every write is guarded by resourceVersion.
import { ConflictError, type KubePort, type LeaseView } from '../../ports/kube.ts';

export const LOCK_NAMESPACE = 'kube-system';
export const LOCK_NAME = 'kubeswap-lock';

export interface HolderIdentity {
  runId: string;
  host: string;
  pid: number;
}

export function formatHolder(holder: HolderIdentity): string {
  return `${holder.runId}@${holder.host}#${holder.pid}`;
}

/** Parses `<runId>@<host>#<pid>`; undefined for a holder some other tool wrote. */
export function parseHolder(holder: string): HolderIdentity | undefined {
  const match = /^(.+)@([^@#]+)#(\d+)$/.exec(holder);
  if (!match) return undefined;
  return { runId: match[1]!, host: match[2]!, pid: Number(match[3]) };
}

export interface LockTarget {
  namespace?: string;
  name?: string;
}

export interface LockOptions extends LockTarget {
  holder: string;
  ttlSeconds: number;
  /** The pass's `now`. */
  now: Date;
  /** Whether a process id exists on this host; injectable for tests. */
  pidAlive?: (pid: number) => boolean;
}

/** Why a lease is ours to take: free, ours already, expired, or its holder process on this host is dead. */
export type LockState =
  | { kind: 'free' | 'ours' }
  | { kind: 'expired' | 'dead-process'; holder: string }
  | { kind: 'held'; holder: string; expiresAt: Date };

export function leaseExpiry(lease: LeaseView): Date | undefined {
  const since = lease.renewTime ?? lease.acquireTime;
  if (!since || lease.leaseDurationSeconds === undefined) return undefined;
  return new Date(since.getTime() + lease.leaseDurationSeconds * 1000);
}

export function lockState(lease: LeaseView, holder: string, now: Date, pidAlive = processAlive): LockState {
  const current = lease.holderIdentity;
  if (!current) return { kind: 'free' };
  if (current === holder) return { kind: 'ours' };
  const expiresAt = leaseExpiry(lease);
  if (!expiresAt || expiresAt.getTime() <= now.getTime()) return { kind: 'expired', holder: current };
  const theirs = parseHolder(current);
  const mine = parseHolder(holder);
  if (theirs && mine && theirs.host === mine.host) {
    // Same pid but another holder string means the pid was reused by us: the original holder is gone.
    if (theirs.pid === mine.pid || !pidAlive(theirs.pid)) return { kind: 'dead-process', holder: current };
  }
  return { kind: 'held', holder: current, expiresAt };
}

export type AcquireResult =
  | { acquired: true; tookOverFrom?: { holder: string; because: 'expired' | 'dead-process' } }
  | { acquired: false; holder: string; expiresAt: Date };

export async function acquireLock(kube: KubePort, options: LockOptions): Promise<AcquireResult> {
  const { namespace = LOCK_NAMESPACE, name = LOCK_NAME, holder, ttlSeconds, now } = options;
  // Losing a create or replace race means re-reading and judging the winner; a third loss in a row means
  // someone else is actively writing the lease, so refuse rather than spin.
  for (let round = 0; round < 3; round++) {
    const lease = await kube.getLease(namespace, name);
    if (!lease) {
      const fresh = { namespace, name, holderIdentity: holder, leaseDurationSeconds: ttlSeconds, leaseTransitions: 0 };
      if ((await kube.createLease({ ...fresh, acquireTime: now, renewTime: now })) === 'created') {
        return { acquired: true };
      }
      continue;
    }
    const state = lockState(lease, holder, now, options.pidAlive);
    if (state.kind === 'held') return { acquired: false, holder: state.holder, expiresAt: state.expiresAt };
    const takeover = state.kind !== 'ours';
    try {
      await kube.replaceLease({
        ...lease,
        holderIdentity: holder,
        leaseDurationSeconds: ttlSeconds,
        acquireTime: takeover ? now : (lease.acquireTime ?? now),
        renewTime: now,
        leaseTransitions: (lease.leaseTransitions ?? 0) + (takeover ? 1 : 0),
      });
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    if (state.kind === 'expired' || state.kind === 'dead-process') {
      return { acquired: true, tookOverFrom: { holder: state.holder, because: state.kind } };
    }
    return { acquired: true };
  }
  return refusedAfterRace(kube, namespace, name, now);
}

async function refusedAfterRace(kube: KubePort, namespace: string, name: string, now: Date): Promise<AcquireResult> {
  const lease = await kube.getLease(namespace, name);
  return {
    acquired: false,
    holder: lease?.holderIdentity ?? '(unknown)',
    expiresAt: (lease && leaseExpiry(lease)) ?? now,
  };
}

export type RenewResult = { renewed: true } | { renewed: false; holder?: string };

/** Extends our lease; reports who holds it instead when it was taken over (our run must stop acting). */
export async function renewLock(kube: KubePort, options: Omit<LockOptions, 'pidAlive'>): Promise<RenewResult> {
  const { namespace = LOCK_NAMESPACE, name = LOCK_NAME, holder, ttlSeconds, now } = options;
  for (let round = 0; round < 2; round++) {
    const lease = await kube.getLease(namespace, name);
    if (lease?.holderIdentity !== holder) return { renewed: false, holder: lease?.holderIdentity };
    try {
      await kube.replaceLease({ ...lease, leaseDurationSeconds: ttlSeconds, renewTime: now });
      return { renewed: true };
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

/** `kill(pid, 0)` probes without signalling: ESRCH means no such process, EPERM means it exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
