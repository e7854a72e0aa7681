// The addons' rollouts followed from watches (issue 15 §2: react, don't poll): one watch per DaemonSet/Deployment
// instead of a read of each every poll interval, which made the rollout's requests grow with its wall time.
// A watch stands for a read only while it is open, has delivered the workload since it opened, and is younger than
// the adapter's watch timeout plus a margin (a connection that outlives it died without a word); otherwise the
// caller reads the workload as before.
import type { Clock } from '../../domain/clock.ts';
import type { KubePort, WorkloadKind, WorkloadView } from '../../ports/kube.ts';

/** The adapter's watch timeout (30 s, watch-one.ts) plus a margin: an open watch older than this is taken for dead. */
const WATCH_MAX_AGE_MS = 35_000;

interface Followed {
  openedAt?: number;
  /** The watch delivered the workload (or its deletion) since it opened. */
  synced: boolean;
  latest?: WorkloadView;
}

export class RolloutWatch {
  private readonly followed = new Map<string, Followed>();
  private readonly stops: (() => void)[] = [];

  constructor(
    kube: Required<Pick<KubePort, 'watchWorkload'>>,
    private readonly clock: Clock,
    namespace: string,
    workloads: readonly { kind: WorkloadKind; name: string }[],
    onChange: () => void,
  ) {
    for (const { kind, name } of workloads) {
      const key = `${kind}/${name}`;
      this.followed.set(key, { synced: false });
      this.stops.push(
        kube.watchWorkload(kind, namespace, name, {
          onConnection: (connected) =>
            this.followed.set(
              key,
              connected ? { openedAt: this.clock.now().getTime(), synced: false } : { synced: false },
            ),
          onWorkload: (workload) => {
            const f = this.followed.get(key);
            if (f?.openedAt === undefined) return;
            f.synced = true;
            f.latest = workload;
            onChange();
          },
        }),
      );
    }
  }

  /**
   * The workload as its watch last showed it, when that stands for a read now (`workload` undefined: deleted);
   * undefined when it does not, and the caller reads it.
   */
  current(kind: WorkloadKind, name: string): { workload: WorkloadView | undefined } | undefined {
    const f = this.followed.get(`${kind}/${name}`);
    if (f?.openedAt === undefined || !f.synced) return undefined;
    if (this.clock.now().getTime() - f.openedAt > WATCH_MAX_AGE_MS) return undefined;
    return { workload: f.latest };
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}
