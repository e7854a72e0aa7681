// Keeps the run's lock and says the moment it is no longer ours. Renewed every third of its TTL; a run
// that could not renew within two thirds of it (client-go's renewDeadline < leaseDuration), or whose
// Lease now names another holder or changed behind its back, has lost it: it must stop acting, since
// another run may already be replacing the same machines.
//
// Watched, not read before every step (issue 15 §2: the Lease read before each step was 38 of 89 requests per swap).
// While the Lease's watch is trusted, every write anyone makes to it reaches us as an event, and an event carries
// what a GET would return: a version we did not write (another holder, `unlock --force`, an edit) marks the lock lost
// at once, so the check before a step needs no request. The watch is trusted only while it is open, has delivered
// the Lease since it opened, has delivered each renewal of ours within WRITE_SEEN_MS (a stuck stream would not), and
// brought an event within SILENT_MS: a connection that died without a word goes silent. The watch stays open for
// minutes (leases.ts), not 30 s, since its liveness needs no reconnect: our own renewals (every third of the TTL, 20 s
// by default) and the API server's bookmarks (every minute) arrive on it, so a live watch is never silent that long
// with the default TTL; with a longer TTL a silent gap just means the check reads the Lease.
// Otherwise the check before a step reads the Lease as before. Either way the safety rule holds: a lost lock stops the
// run before its next change (the judgement is as fresh as a read, up to the stream's latency), and a run that could
// not renew within two thirds of the TTL stops acting whatever the watch says.
import type { Clock } from '../../domain/clock.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { KubePort, LeaseView } from '../../ports/kube.ts';
import { LOCK_NAME, LOCK_NAMESPACE, renewLock } from './lock.ts';

/** Fraction of the TTL within which a renewal must succeed (client-go: renewDeadline 10 s of a 15 s lease). */
const RENEW_DEADLINE = 2 / 3;
/** Our own renewal not seen in the stream within this long: the watch is stuck, not trusted. */
const WRITE_SEEN_MS = 3_000;
/** An open watch that brought no event (nor bookmark) for this long is taken for dead: as stale as a 30 s watch was. */
const SILENT_MS = 35_000;
/**
 * A fresh check this soon after a renewal that proved the Lease untouched relies on that proof instead of writing
 * again (verify). One second: a step's own duration, never a fraction of the TTL or the renewal period.
 */
export const PROOF_REUSE_MS = 1_000;

export interface KeptLock {
  namespace?: string;
  name?: string;
  holder: string;
  ttlSeconds: number;
  /** resourceVersion of the Lease as our acquire wrote it. */
  resourceVersion: string;
  /** The Lease as our acquire wrote it: the first renewal replaces it directly, guarded by its resourceVersion. */
  lease?: LeaseView;
}

export class LockKeeper {
  private lostReason?: string;
  private renewedAt: number;
  /** Of our last write; undefined after a renewal whose outcome is unknown (then only the holder is checked). */
  private resourceVersion?: string;
  private timer?: ReturnType<typeof setTimeout>;
  /** Renewals and checks run one at a time, so a check never reads a write it has not yet recorded. */
  private queue: Promise<unknown> = Promise.resolve();
  /** What we last wrote (or read as ours): a renewal replaces it without reading first. */
  private last?: LeaseView;
  /**
   * When the last renewal that proved nobody wrote the Lease since our write before it was sent (its request's start,
   * so the time since is never understated); undefined after any renewal that proved less.
   */
  private provenAt?: number;
  /** resourceVersions of our own writes: any other version the watch shows is someone else's write. */
  private readonly ours = new Set<string>();
  /** Our renewal in flight: its event may arrive before its result, so events wait until it is known. */
  private writing = false;
  private stopWatch?: () => void;
  private stopped = false;
  private watch: {
    openedAt?: number;
    /** When it last brought an event or a bookmark. */
    heardAt?: number;
    /** The watch delivered the Lease since it opened. */
    synced: boolean;
    latest?: LeaseView;
    /** No event of this watch judged yet. */
    first?: boolean;
    /** Its first event showed a version not ours, maybe from a lagging watch cache: not trusted until the next one. */
    doubtful?: boolean;
    /** An event arrived while our renewal was in flight, not judged yet. */
    pending?: boolean;
    /** Our last renewal not yet seen in the stream, and when it was written. */
    unseen?: { rv: string; at: number };
  } = { synced: false };

  constructor(
    private readonly kube: KubePort,
    private readonly lock: KeptLock,
    private readonly clock: Clock,
    private readonly onLost: (reason: string) => void,
  ) {
    this.renewedAt = clock.now().getTime();
    this.resourceVersion = lock.resourceVersion;
    this.ours.add(lock.resourceVersion);
    if (lock.lease?.resourceVersion === lock.resourceVersion) this.last = lock.lease;
  }

  start(): this {
    this.schedule();
    this.stopWatch = this.kube.watchLease?.(this.namespace, this.name, {
      onConnection: (connected) => {
        const now = this.clock.now().getTime();
        this.watch = connected ? { openedAt: now, heardAt: now, synced: false, first: true } : { synced: false };
      },
      onAlive: () => {
        if (this.watch.openedAt !== undefined) this.watch.heardAt = this.clock.now().getTime();
      },
      onLease: (lease) => {
        if (this.watch.openedAt === undefined) return;
        this.watch.heardAt = this.clock.now().getTime();
        this.watch.synced = true;
        this.watch.latest = lease;
        if (lease && this.watch.unseen?.rv === lease.resourceVersion) this.watch.unseen = undefined;
        // While our renewal is in flight its version is not known yet: judged when it is (renewNow).
        if (this.writing) this.watch.pending = true;
        else this.consider(lease);
      },
    });
    return this;
  }

  /**
   * The next renewal a third of the TTL after the last attempt. Every renewal reschedules it, also one made by a
   * step's check (verify), so those cost no request over time: the periodic ones move back.
   */
  private schedule(): void {
    clearTimeout(this.timer);
    if (this.lostReason || this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), (this.lock.ttlSeconds * 1000) / 3);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Throws `lock.lost` when the lock is known lost; no I/O (for the loop between observations). */
  assertHeld(): void {
    if (this.lostReason) throw lockLost(this.lostReason);
  }

  /**
   * Right before every mutating step: the Lease must still name us, as we last wrote it, within its deadline.
   * `fresh`: read the Lease even while the watch is trusted. For the steps no second run may ever take at the same time
   * (a member added or removed, a machine launched or terminated): a stream that died without closing is trusted for up
   * to SILENT_MS, and a read costs a request or two per swap.
   */
  verify(options: { fresh?: boolean } = {}): Promise<void> {
    return this.exclusive(async () => {
      // Renewal is also driven from here, on the run's own clock: a run that acts holds a fresh lease.
      // A fresh check renews too, instead of reading: the replace is guarded by our last write's resourceVersion, so
      // it succeeds only if nobody wrote the Lease since (else 409, and renewLock reads and judges it), which proves
      // as much as a read would, and it moves the next periodic renewal back (schedule), so it costs no extra request.
      const now = this.clock.now().getTime();
      const due = now - this.renewedAt >= (this.lock.ttlSeconds * 1000) / 3;
      const proving = options.fresh === true && this.resourceVersion !== undefined;
      // A renewal within PROOF_REUSE_MS proved the Lease ours then (issue 15 §2: terminate follows the member's
      // removal by ~0.1 s, and each wrote the Lease). It stands for a new proof only while the watch is trusted and
      // has delivered that renewal: any write after it (another run taking a Lease `unlock --force` freed, an edit)
      // then comes as an event, which marks the lock lost (consider), so what is left unseen is the stream's latency,
      // as for every non-fresh check. Without such a watch the check writes again. A renewal of unknown outcome
      // cleared the proof; a clock stepped back (now before provenAt) does not count as young.
      const young = this.provenAt !== undefined && now >= this.provenAt && now - this.provenAt <= PROOF_REUSE_MS;
      let proven = proving && !due && young && this.watchTrusted() && this.watch.unseen === undefined;
      if (!this.lostReason && (due || (proving && !proven))) {
        // Written by us just now, over our own last write (its outcome known): nothing else to check.
        proven = (await this.renewNow()) && proving;
      }
      if (!this.lostReason) {
        if (this.overdue()) this.lose(this.overdueReason());
        else if (!proven) {
          if (!options.fresh && this.watchTrusted()) this.judge(this.watch.latest);
          else {
            // No watch to rely on: read the Lease right before the change, as the only way to see a foreign write.
            const lease = await this.kube.getLease(this.namespace, this.name);
            if (lease?.holderIdentity !== this.lock.holder) this.lose(takenBy(lease?.holderIdentity));
            else if (this.resourceVersion && lease.resourceVersion !== this.resourceVersion)
              this.lose('the lock was written by someone else since our last renewal');
          }
        }
      }
      this.assertHeld();
    });
  }

  /** Whether the watch's latest event stands for a read of the Lease now (see the top of this file). */
  private watchTrusted(): boolean {
    const { openedAt, heardAt, synced, unseen, doubtful } = this.watch;
    if (openedAt === undefined || !synced || doubtful) return false;
    const now = this.clock.now().getTime();
    if (now - (heardAt ?? openedAt) > SILENT_MS) return false;
    return !unseen || now - unseen.at <= WRITE_SEEN_MS;
  }

  /**
   * A version of the Lease from the watch: ours when it names us and is one of our writes (or, after a renewal of
   * unknown outcome, names us: that write may have been ours). Anything else was written by someone else.
   */
  private judge(lease: LeaseView | undefined): void {
    if (this.lostReason) return;
    if (lease?.holderIdentity !== this.lock.holder) this.lose(takenBy(lease?.holderIdentity));
    else if (!this.isOurs(lease)) this.lose('the lock was written by someone else since our last renewal');
  }

  /**
   * A watch opened without a resourceVersion starts from the API server's watch cache, which may lag our own writes
   * (kubernetes/kubernetes#122830): its first version, if not ours, proves no foreign write. It leaves the watch
   * untrusted (the next check reads the Lease) until a later event, which is judged.
   */
  private consider(lease: LeaseView | undefined): void {
    const first = this.watch.first;
    this.watch.first = false;
    this.watch.doubtful = first === true && !this.isOurs(lease);
    if (!this.watch.doubtful) this.judge(lease);
  }

  private isOurs(lease: LeaseView | undefined): boolean {
    if (lease?.holderIdentity !== this.lock.holder) return false;
    return !this.resourceVersion || this.ours.has(lease.resourceVersion);
  }

  async renew(): Promise<void> {
    await this.exclusive(() => this.renewNow());
  }

  /**
   * true: renewed over our own last write (the guarded replace succeeded at once: nobody wrote the Lease in between),
   * its outcome known.
   */
  private async renewNow(): Promise<boolean> {
    if (this.lostReason) return false;
    let renewed = false;
    const previous = this.resourceVersion;
    const now = this.clock.now();
    this.writing = true;
    try {
      const result = await renewLock(this.kube, {
        namespace: this.namespace,
        name: this.name,
        holder: this.lock.holder,
        ttlSeconds: this.lock.ttlSeconds,
        now,
        // Our last write, when known: replaced directly. Its resourceVersion guards it, so a write of anyone else
        // since then makes it fail (409) and renewLock reads and judges the Lease instead.
        last: this.resourceVersion !== undefined ? this.last : undefined,
      });
      if (
        result.renewed &&
        previous !== undefined &&
        result.replaced !== previous &&
        !result.replacedOwnWrite &&
        !this.ours.has(result.replaced)
      ) {
        // Our guarded replace met a version that is not ours (409), under our holder name: someone else wrote the
        // Lease since our last renewal, as a read would have shown. Our write over it does not make that undone.
        this.lose('the lock was written by someone else since our last renewal');
      } else if (result.renewed) {
        // After a renewal of unknown outcome, or when this renewal's own first write lost its answer and was retried,
        // the version it replaced may be a write of ours: the stream may still deliver it, and it must not read as
        // someone else's.
        if (this.resourceVersion === undefined || result.replacedOwnWrite) this.ours.add(result.replaced);
        this.renewedAt = now.getTime();
        renewed = previous !== undefined && result.replaced === previous;
        this.provenAt = renewed ? now.getTime() : undefined;
        this.resourceVersion = result.lease.resourceVersion;
        this.last = result.lease;
        this.ours.add(result.lease.resourceVersion);
        if (this.watch.latest?.resourceVersion !== result.lease.resourceVersion)
          this.watch.unseen = { rv: result.lease.resourceVersion, at: this.clock.now().getTime() };
      } else this.lose(takenBy(result.holder));
    } catch (err) {
      this.resourceVersion = undefined;
      this.last = undefined;
      this.provenAt = undefined;
      if (this.overdue()) this.lose(`${this.overdueReason()}: ${(err as Error).message}`);
    } finally {
      this.writing = false;
      this.schedule();
    }
    // Events that arrived while the write was in flight are judged now that its version is known.
    if (this.watch.pending) {
      this.watch.pending = false;
      this.consider(this.watch.latest);
    }
    return renewed;
  }

  private get namespace() {
    return this.lock.namespace ?? LOCK_NAMESPACE;
  }

  private get name() {
    return this.lock.name ?? LOCK_NAME;
  }

  private overdue(): boolean {
    return this.clock.now().getTime() - this.renewedAt >= this.lock.ttlSeconds * 1000 * RENEW_DEADLINE;
  }

  private overdueReason(): string {
    const seconds = Math.round((this.clock.now().getTime() - this.renewedAt) / 1000);
    return `the lock could not be renewed for ${seconds} s (deadline ${Math.round(this.lock.ttlSeconds * RENEW_DEADLINE)} s of its ${this.lock.ttlSeconds} s TTL)`;
  }

  private lose(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    this.stop();
    this.onLost(reason);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function takenBy(holder: string | undefined): string {
  return holder
    ? `the lock is now held by ${holder}`
    : 'the lock was released by someone else (kubeswap unlock --force?)';
}

export function lockLost(reason: string): KubeswapError {
  return new KubeswapError(
    'needs-person',
    'lock.lost',
    `stopped acting: ${reason}; another run may be changing the cluster`,
    {
      hint: 'run `kubeswap status` to see who holds the lock and what is in flight; re-run once the other run has finished',
      source: 'environment',
    },
  );
}
