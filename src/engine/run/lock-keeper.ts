// Keeps the run's lock and says the moment it is no longer ours. Renewed every third of its TTL; a run
// that could not renew within two thirds of it (client-go's renewDeadline < leaseDuration), or whose
// Lease now names another holder or changed behind its back, has lost it: it must stop acting, since
// another run may already be replacing the same machines.
import type { Clock } from '../../domain/clock.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { KubePort } from '../../ports/kube.ts';
import { LOCK_NAME, LOCK_NAMESPACE, renewLock } from './lock.ts';

/** Fraction of the TTL within which a renewal must succeed (client-go: renewDeadline 10 s of a 15 s lease). */
const RENEW_DEADLINE = 2 / 3;

export interface KeptLock {
  namespace?: string;
  name?: string;
  holder: string;
  ttlSeconds: number;
  /** resourceVersion of the Lease as our acquire wrote it. */
  resourceVersion: string;
}

export class LockKeeper {
  private lostReason?: string;
  private renewedAt: number;
  /** Of our last write; undefined after a renewal whose outcome is unknown (then only the holder is checked). */
  private resourceVersion?: string;
  private timer?: ReturnType<typeof setInterval>;
  /** Renewals and checks run one at a time, so a check never reads a write it has not yet recorded. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kube: KubePort,
    private readonly lock: KeptLock,
    private readonly clock: Clock,
    private readonly onLost: (reason: string) => void,
  ) {
    this.renewedAt = clock.now().getTime();
    this.resourceVersion = lock.resourceVersion;
  }

  start(): this {
    this.timer = setInterval(() => void this.renew(), (this.lock.ttlSeconds * 1000) / 3);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Throws `lock.lost` when the lock is known lost; no I/O (for the loop between observations). */
  assertHeld(): void {
    if (this.lostReason) throw lockLost(this.lostReason);
  }

  /** Right before every mutating step: the Lease must still name us, as we last wrote it, within its deadline. */
  verify(): Promise<void> {
    return this.exclusive(async () => {
      // Renewal is also driven from here, on the run's own clock: a run that acts holds a fresh lease.
      if (!this.lostReason && this.clock.now().getTime() - this.renewedAt >= (this.lock.ttlSeconds * 1000) / 3) {
        await this.renewNow();
      }
      if (!this.lostReason) {
        if (this.overdue()) this.lose(this.overdueReason());
        else {
          const lease = await this.kube.getLease(this.namespace, this.name);
          if (lease?.holderIdentity !== this.lock.holder) this.lose(takenBy(lease?.holderIdentity));
          else if (this.resourceVersion && lease.resourceVersion !== this.resourceVersion)
            this.lose('the lock was written by someone else since our last renewal');
        }
      }
      this.assertHeld();
    });
  }

  renew(): Promise<void> {
    return this.exclusive(() => this.renewNow());
  }

  private async renewNow(): Promise<void> {
    if (this.lostReason) return;
    const now = this.clock.now();
    try {
      const result = await renewLock(this.kube, {
        namespace: this.namespace,
        name: this.name,
        holder: this.lock.holder,
        ttlSeconds: this.lock.ttlSeconds,
        now,
      });
      if (result.renewed) {
        this.renewedAt = now.getTime();
        this.resourceVersion = result.lease.resourceVersion;
      } else this.lose(takenBy(result.holder));
    } catch (err) {
      this.resourceVersion = undefined;
      if (this.overdue()) this.lose(`${this.overdueReason()}: ${(err as Error).message}`);
    }
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
