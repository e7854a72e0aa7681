// The saved plan on disk (`plan --out FILE`, `apply FILE`): JSON, written 0600 through a rename so a reader never
// sees half a plan and an older file's wider mode is not kept. Its content is decided in engine/run/saved-plan.ts.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { KubeswapError, type Problem } from '../../domain/errors.ts';
import type { PlanReport } from '../../engine/run/run.ts';
import { PLAN_FORMAT, PLAN_FORMAT_VERSION, parseSavedPlan, type SavedPlan } from '../../engine/run/saved-plan.ts';
import type { FlatInput } from '../config/settings.ts';

export function savedPlanOf(
  report: PlanReport,
  settings: FlatInput,
  meta: { kubeswapVersion: string; now: Date },
): SavedPlan {
  return {
    format: PLAN_FORMAT,
    formatVersion: PLAN_FORMAT_VERSION,
    createdAt: meta.now.toISOString(),
    kubeswapVersion: meta.kubeswapVersion,
    from: report.from,
    desired: report.desired,
    machines: report.candidates.map((c) => ({
      node: c.cp.name,
      machine: c.cp.machine?.id,
      reasons: c.reasons.map((r) => r.message),
    })),
    upToDate: report.upToDate,
    changes: report.changes,
    settings,
    fingerprint: report.fingerprint,
  };
}

export function writeSavedPlan(file: string, plan: SavedPlan): void {
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, `${JSON.stringify(plan, null, 2)}\n`, { mode: 0o600, flag: 'w' });
  renameSync(partial, file);
}

export function readSavedPlan(file: string): SavedPlan {
  if (!existsSync(file)) {
    throw new KubeswapError('invalid', 'plan-file.not-found', `saved plan ${file} does not exist`, {
      hint: 'make one with kubeswap plan --out FILE',
    });
  }
  return parseSavedPlan(readFileSync(file, 'utf8'), file);
}

/** A flag that contradicts the saved plan: the plan is what was reviewed, so the flag is refused, not obeyed. */
export function planConflicts(plan: SavedPlan, flags: FlatInput, file: string): Problem[] {
  const problems: Problem[] = [];
  for (const [key, value] of Object.entries(flags)) {
    if (!(key in plan.settings) && key !== 'to' && key !== 'image') continue;
    if (JSON.stringify(plan.settings[key]) === JSON.stringify(value)) continue;
    problems.push({
      code: 'input.plan-conflict',
      message: `${key} ${JSON.stringify(value)} differs from the saved plan ${file} (${JSON.stringify(plan.settings[key] ?? null)})`,
      hint: 'drop the flag, or make a new plan with it: kubeswap plan --out FILE',
    });
  }
  return problems;
}
