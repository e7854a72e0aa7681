// `kubeswap report [--run ID]`: the Markdown report of a run from the timeline it kept in the cluster
// (kube-system/kubeswap-runs, engine/run/run-record.ts), after the run, on another machine, or after a kill -9.
import { appendFileSync } from 'node:fs';
import { KubeswapError } from '../../domain/errors.ts';
import { RUNS_CONFIGMAP, readStoredRuns } from '../../engine/run/run-record.ts';
import type { Settings } from '../config/settings.ts';
import { EXIT } from '../exit-codes.ts';
import type { Io } from '../io.ts';
import { markdownReport } from '../render/report.ts';
import { openKubeFor } from './wiring.ts';

export async function showReport(settings: Settings, io: Io): Promise<number> {
  const kube = openKubeFor(settings);
  try {
    const runs = await readStoredRuns(kube);
    const run = settings.runId ? runs.find((r) => r.runId === settings.runId) : runs[runs.length - 1];
    if (!run) {
      throw new KubeswapError(
        'invalid',
        'report.no-run',
        settings.runId
          ? `no run ${settings.runId} is kept in kube-system/${RUNS_CONFIGMAP}`
          : `no run is kept in kube-system/${RUNS_CONFIGMAP}`,
        {
          hint: runs.length
            ? `runs kept (the last ${runs.length}): ${runs.map((r) => r.runId).join(', ')}`
            : 'a run is kept once kubeswap apply starts replacing machines',
        },
      );
    }
    if (settings.output === 'json') {
      io.stdout.write(`${JSON.stringify({ code: 'report', ...run })}\n`);
      return EXIT.ok;
    }
    const markdown = markdownReport(run.events, run.outcome ?? {});
    io.stdout.write(markdown);
    if (settings.summary) appendFileSync(settings.summary, markdown);
    return EXIT.ok;
  } finally {
    kube.close();
  }
}
