// `kubeswap abandon`: closes an unfinished run's progress record and releases its lock; no machine changes.
import { hostname } from 'node:os';
import { systemClock } from '../../domain/clock.ts';
import { abandonRun } from '../../engine/run/abandon.ts';
import type { Settings } from '../config/settings.ts';
import { EXIT } from '../exit-codes.ts';
import type { Io } from '../io.ts';
import { openKubeFor } from './wiring.ts';

export async function abandon(settings: Settings, io: Io): Promise<number> {
  const kube = openKubeFor(settings);
  try {
    const result = await abandonRun(kube, systemClock, { host: hostname(), pid: process.pid });
    if (settings.output === 'json') {
      io.stdout.write(
        `${JSON.stringify({ code: result.run ? 'run.abandoned' : 'run.nothing-to-abandon', runId: result.run?.runId ?? null, releasedLock: result.releasedLock ?? null, left: result.left })}\n`,
      );
      return EXIT.ok;
    }
    if (result.releasedLock) io.stdout.write(`Lock released (was held by ${result.releasedLock}).\n`);
    if (!result.run) {
      io.stdout.write('No unfinished run to abandon.\n');
      return EXIT.ok;
    }
    const r = result.run;
    io.stdout.write(`Abandoned run ${r.runId} (target ${r.version}, image ${r.imageId}); no machine was changed.\n`);
    io.stdout.write(`Left as it is:\n${result.left.map((l) => `  ${l}\n`).join('')}`);
    io.stdout.write('Next: kubeswap plan with the target you want; apply runs it as a new run.\n');
    return EXIT.ok;
  } finally {
    kube.close();
  }
}
