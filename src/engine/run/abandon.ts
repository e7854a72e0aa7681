// `kubeswap abandon`: gives up an unfinished run (after a rollback, exit 3, or a run that died) so that another
// target or image can be applied. It closes the progress record and releases a lock nobody renews; it changes no
// machine, member, Node or target: whatever the run left is reported, and the next run's planner, which re-derives
// everything from live state, deals with it.
import type { Clock } from '../../domain/clock.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { KubePort } from '../../ports/kube.ts';
import { breakLock, formatHolder, LOCK_NAME, LOCK_NAMESPACE, lockState, processStart } from './lock.ts';
import { type ProgressRecord, readProgress, writeProgress } from './progress.ts';
import { readRetiring } from './retiring.ts';

export interface Abandoned {
  /** undefined: there was no unfinished run. */
  run?: ProgressRecord;
  /** The lock holder that was released, when one was. */
  releasedLock?: string;
  /** What the run leaves behind, for the operator to know before the next run. */
  left: string[];
}

export async function abandonRun(kube: KubePort, clock: Clock, me: { host: string; pid: number }): Promise<Abandoned> {
  const [progress, lease, retiring] = await Promise.all([
    readProgress(kube),
    kube.getLease(LOCK_NAMESPACE, LOCK_NAME),
    readRetiring(kube),
  ]);
  const now = clock.now();
  let releasedLock: string | undefined;
  if (lease?.holderIdentity) {
    const self = formatHolder({ runId: 'abandon', ...me, start: processStart() });
    const state = lockState(lease, self, now);
    // A lock renewed within its TTL may belong to a run that is still acting: abandoning under it would let a
    // second run start beside it. A provably dead holder (same host) or an expired lease is released.
    if (state.kind === 'held') {
      throw new KubeswapError(
        'blocked',
        'lock.held',
        `a kubeswap run holds the lock (${state.holder}) until ${state.expiresAt.toISOString()}: it may still be running; nothing was changed`,
        {
          hint: 'stop that run (Ctrl-C) or wait for its lock to expire, then abandon; kubeswap unlock --force breaks a live lock',
        },
      );
    }
    const broken = await breakLock(kube, { now, expectHolder: lease.holderIdentity });
    if (!broken.broken) {
      throw new KubeswapError(
        'blocked',
        'lock.changed',
        `the lock changed hands meanwhile (now ${broken.holder ?? 'free'}); nothing was changed`,
        { hint: 'check kubeswap status' },
      );
    }
    releasedLock = broken.holder;
  }
  if (progress?.state !== 'running') return { releasedLock, left: [] };

  const left: string[] = [];
  for (const [node, phase] of Object.entries(progress.machines)) left.push(`${node}: last step ${phase}`);
  if (retiring) {
    left.push(
      `${retiring.node} (${retiring.machine.id}) was removed before its replacement (--max-surge 0): the control plane runs one machine short until a run replaces it`,
    );
  }
  if (progress.provider !== undefined && !progress.providerRestored) {
    left.push(
      "the provider's run-wide changes (an Auto Scaling group's suspended processes and sizes) are not undone yet: the next apply of any target takes them over and restores them at its end",
    );
  }
  left.push(
    `machines this run created carry the tag kubeswap.io/run-id=${progress.runId}; the next run re-reads the cluster and finishes or reports them`,
  );
  await writeProgress(kube, {
    ...progress,
    state: 'abandoned',
    updatedAt: now.toISOString(),
    last: `abandoned (was: ${progress.last})`.slice(0, 500),
  });
  return { run: progress, releasedLock, left };
}
