// `kubeswap status` and `kubeswap unlock`: read the lock and the progress record; break a stale lock.

import { KUBEADM_NAMESPACE } from '../../domain/kubeadm/cluster-config.ts';
import { breakLock } from '../../engine/run/lock.ts';
import { readProgress } from '../../engine/run/progress.ts';
import { readRetiring } from '../../engine/run/retiring.ts';
import { LOCK_NAME } from '../../engine/run/run.ts';
import type { Settings } from '../config/settings.ts';
import { EXIT } from '../exit-codes.ts';
import type { Io } from '../io.ts';
import { openKubeFor } from './wiring.ts';

export async function showStatus(settings: Settings, io: Io): Promise<number> {
  const kube = openKubeFor(settings);
  try {
    const [lease, progress, retiring] = await Promise.all([
      kube.getLease(KUBEADM_NAMESPACE, LOCK_NAME),
      readProgress(kube),
      readRetiring(kube),
    ]);
    const lock = lease?.holderIdentity
      ? {
          holder: lease.holderIdentity,
          renewedAt: lease.renewTime?.toISOString(),
          ttlSeconds: lease.leaseDurationSeconds,
        }
      : undefined;
    if (settings.output === 'json') {
      io.stdout.write(
        `${JSON.stringify({ code: 'status', lock: lock ?? null, progress: progress ?? null, retiring: retiring ?? null })}\n`,
      );
      return EXIT.ok;
    }
    io.stdout.write(
      lock ? `Lock: held by ${lock.holder}, renewed ${lock.renewedAt}, ttl ${lock.ttlSeconds}s\n` : 'Lock: free\n',
    );
    if (!progress) io.stdout.write('Progress: no run recorded\n');
    else {
      io.stdout.write(
        `Run ${progress.runId} (${progress.state}): target ${progress.version}, image ${progress.imageId}\n`,
      );
      io.stdout.write(`  started ${progress.startedAt}, updated ${progress.updatedAt}, last: ${progress.last}\n`);
      for (const [node, phase] of Object.entries(progress.machines)) io.stdout.write(`  ${node}: ${phase}\n`);
    }
    if (retiring) {
      io.stdout.write(
        `Removed first (--max-surge 0): ${retiring.node} (${retiring.machine.id}) since ${retiring.startedAt}; a re-run creates its replacement\n`,
      );
    }
    return EXIT.ok;
  } finally {
    kube.close();
  }
}

/**
 * `kubeswap unlock`: shows who holds the lock and when it was last renewed. A lock renewed within its TTL may
 * belong to a live run: it is broken only with --force (that run then stops at its next step, lock.lost).
 */
export async function unlock(settings: Settings, io: Io): Promise<number> {
  const kube = openKubeFor(settings);
  try {
    const lease = await kube.getLease(KUBEADM_NAMESPACE, LOCK_NAME);
    if (!lease?.holderIdentity) {
      io.stdout.write('Lock was free.\n');
      return EXIT.ok;
    }
    const renewed = lease.renewTime ?? lease.acquireTime;
    const ttl = lease.leaseDurationSeconds ?? 0;
    const ageSeconds = renewed ? Math.round((Date.now() - renewed.getTime()) / 1000) : undefined;
    io.stdout.write(
      `Lock held by ${lease.holderIdentity}, last renewed ${renewed?.toISOString() ?? 'never'}` +
        `${ageSeconds === undefined ? '' : ` (${ageSeconds} s ago)`}, TTL ${ttl} s.\n`,
    );
    const live = ageSeconds !== undefined && ageSeconds < ttl;
    if (live && !settings.forceUnlock) {
      io.stderr.write(
        'error: the lock was renewed within its TTL: the run holding it is probably alive; nothing was changed\n' +
          'hint: check `kubeswap status`; to break it anyway: kubeswap unlock --force (that run stops at its next step)\n',
      );
      return EXIT.invalid;
    }
    // Breaks exactly the lock shown above: one that changed hands meanwhile is left alone.
    const result = await breakLock(kube, {
      namespace: KUBEADM_NAMESPACE,
      name: LOCK_NAME,
      now: new Date(),
      expectHolder: lease.holderIdentity,
    });
    if (!result.broken) {
      io.stderr.write(
        `error: the lock changed hands meanwhile (now ${result.holder ?? 'free'}); nothing was changed\n`,
      );
      return EXIT.invalid;
    }
    io.stdout.write(`Lock broken (was held by ${result.holder}${live ? ', renewed within its TTL: --force' : ''}).\n`);
    return EXIT.ok;
  } finally {
    kube.close();
  }
}
