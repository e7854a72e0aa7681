// `kubeswap status` and `kubeswap unlock`: read the lock and the progress record; break a stale lock.

import { KUBEADM_NAMESPACE } from '../domain/kubeadm/cluster-config.ts';
import { breakLock } from '../engine/run/lock.ts';
import { readProgress } from '../engine/run/progress.ts';
import { readRetiring } from '../engine/run/retiring.ts';
import { LOCK_NAME } from '../engine/run/run.ts';
import { EXIT } from './exit-codes.ts';
import type { Io } from './io.ts';
import type { Settings } from './settings.ts';
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

export async function unlock(settings: Settings, io: Io): Promise<number> {
  const kube = openKubeFor(settings);
  try {
    const result = await breakLock(kube, { namespace: KUBEADM_NAMESPACE, name: LOCK_NAME, now: new Date() });
    io.stdout.write(result.broken ? `Lock broken (was held by ${result.holder}).\n` : 'Lock was free.\n');
    return EXIT.ok;
  } finally {
    kube.close();
  }
}
