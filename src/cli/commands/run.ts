// Runs one command once the command line is parsed: settings (file < env < flags), then the engine. Loaded only
// for commands that reach a cluster, so `--help`, `--version` and `completion` never load the clients.
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { describeError, invalid, KubeswapError, type Problem } from '../../domain/errors.ts';
import { EventLog, fanOut } from '../../domain/events.ts';
import type { NodeView } from '../../domain/model.ts';
import { blockers, type ReadinessReport } from '../../domain/readiness/report.ts';
import { addonsPending } from '../../engine/addons/plan.ts';
import { asPreflightError } from '../../engine/checks/preflight-errors.ts';
import { checkReadiness, type ReadinessRequest } from '../../engine/checks/readiness/run-readiness.ts';
import type { Ports } from '../../engine/ports.ts';
import { withAvailability } from '../../engine/run/availability.ts';
import { apply, inspect, inspectWithNodes, type PlanReport } from '../../engine/run/run.ts';
import { RunRecorder } from '../../engine/run/run-record.ts';
import type { SavedPlan } from '../../engine/run/saved-plan.ts';
import { flagLayer } from '../config/options.ts';
import {
  planSettings,
  readConfigFile,
  readEnvironment,
  resolveSettings,
  type Settings,
  savedPlanLayer,
} from '../config/settings.ts';
import type { Command } from '../config/spec.ts';
import { EXIT, exitCodeFor } from '../exit-codes.ts';
import type { Io } from '../io.ts';
import { packageVersion } from '../package-info.ts';
import { jsonRenderer, textRenderer } from '../render/events.ts';
import { formatPlan } from '../render/plan-report.ts';
import { formatReadiness, markdownReadiness } from '../render/readiness.ts';
import { markdownPlan, markdownSummary } from '../render/summary.ts';
import { abandon } from './abandon.ts';
import { planConflicts, readSavedPlan, savedPlanOf, writeSavedPlan } from './plan-file.ts';
import { showReport } from './report.ts';
import { showStatus, unlock } from './status.ts';
import { engineOptions, gitCheckoutOf, poolOptions, snapshotDirFor, wire, withWorkloadKubeconfig } from './wiring.ts';

export async function run(command: Command, args: Record<string, unknown>, io: Io): Promise<number> {
  const log = new EventLog();
  const env = readEnvironment(command, io.env);
  const flags = flagLayer(command, args);
  const configFile = flags['config'] ?? env['config'];
  const file = configFile ? readConfigFile(String(configFile)) : { input: {}, problems: [] };
  // apply FILE: the saved plan's settings sit above the config file and the environment; a flag may not contradict them.
  const planFile = command === 'apply' && typeof args['plan'] === 'string' ? args['plan'] : undefined;
  let saved: SavedPlan | undefined;
  let savedProblems: Problem[] = [];
  try {
    saved = planFile ? readSavedPlan(planFile) : undefined;
  } catch (err) {
    if (!(err instanceof KubeswapError)) throw err;
    savedProblems = [{ code: err.code, message: err.message, hint: err.hint }];
  }
  const layers = saved ? [file.input, env, savedPlanLayer(saved.settings, planFile!), flags] : [file.input, env, flags];
  const resolved = resolveSettings(command, layers);
  const { problems, merged } = resolved;
  let settings = resolved.settings;
  if (saved) savedProblems.push(...planConflicts(saved, flags, planFile!));
  const renderer =
    settings.output === 'json' ? { sink: jsonRenderer(io.stdout), stop: () => {} } : textRenderer(io.stderr);
  // The run's timeline, kept in the cluster for `kubeswap report` (engine/run/run-record.ts); wired once the
  // cluster is reachable, it receives the events emitted before too.
  let recorder: RunRecorder | undefined;
  const emit = fanOut(log.sink, renderer.sink, (event) => recorder?.sink(event));
  let exitCode: number = EXIT.ok;
  let planned: Awaited<ReturnType<typeof inspect>> | undefined;
  let error: string | undefined;
  const controller = new AbortController();
  // Said at once, so an operator (or a pipeline's log) knows the signal was heard even while a rollback runs on.
  const onSignal = (signal: NodeJS.Signals) => {
    emit({
      code: 'run.interrupt-received',
      at: new Date().toISOString(),
      level: 'warn',
      message: `${signal} received: stopping at the next step boundary (a rollback in progress runs to its end; a second ${signal} ends the process at once)`,
      data: { signal },
    });
    controller.abort(new Error('interrupted'));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let close = () => {};
  let dropKubeconfig = () => {};
  try {
    const allProblems = [...file.problems, ...savedProblems, ...problems];
    if (allProblems.length > 0) throw invalid(allProblems);
    const workload = await withWorkloadKubeconfig(settings).catch((err: unknown) => {
      throw asPreflightError(err);
    });
    settings = workload.settings;
    dropKubeconfig = workload.cleanup;
    if (command === 'status') return await showStatus(settings, io).catch(readOnlyFailure);
    if (command === 'unlock') return await unlock(settings, io).catch(readOnlyFailure);
    if (command === 'abandon') return await abandon(settings, io).catch(readOnlyFailure);
    if (command === 'report') return await showReport(settings, io).catch(readOnlyFailure);
    const wired = await wire(settings, emit).catch((err: unknown) => {
      throw asPreflightError(err);
    });
    close = wired.close;
    const request = {
      version: settings.to,
      imageId: settings.image,
      force: settings.force,
      allowPatchDowngrade: settings.allowPatchDowngrade,
      maxSurge: settings.maxSurge,
      render: settings.userData === 'render',
      readiness: { acceptRemovedApis: settings.acceptRemovedApis, certWarningDays: settings.certWarningDays },
      withoutLoadBalancer: !settings.loadBalancer,
      expect: saved?.fingerprint,
    };
    const snapshotDir = snapshotDirFor(settings);
    if (command === 'plan') {
      const { report, nodes } = await inspectWithNodes(wired.ports, request, {
        skipAddons: settings.skipAddons,
        ...poolOptions(settings),
      }).catch((err: unknown) => {
        throw asPreflightError(err);
      });
      planned = report;
      const readiness = await planReadiness(wired.ports, report, nodes, settings, request.readiness);
      const ready = !readiness || blockers(readiness).length === 0;
      // A blocked plan is not one to run later: nothing is saved, and the exit code says why.
      if (settings.out && report.next.kind !== 'blocked' && ready) {
        writeSavedPlan(
          settings.out,
          savedPlanOf(report, planSettings(merged), { kubeswapVersion: packageVersion(), now: new Date() }),
        );
      }
      if (settings.output === 'json')
        io.stdout.write(
          `${JSON.stringify({ code: 'plan.report', ...serializable(report), snapshotDir, savedTo: settings.out, readiness })}\n`,
        );
      else
        io.stdout.write(
          formatPlan(report, { snapshotDir, savedTo: settings.out, snapshotInCheckout: gitCheckoutOf(snapshotDir) }) +
            (readiness ? formatReadiness(readiness) : ''),
        );
      const pending =
        !(report.next.kind === 'done' && report.from === report.desired.version) || addonsPending(report.addons);
      exitCode =
        report.next.kind === 'blocked' || !ready
          ? EXIT.invalid
          : settings.detailedExitcode && pending
            ? EXIT.changesPending
            : EXIT.ok;
      return exitCode;
    }
    const options = engineOptions(settings);
    recorder = new RunRecorder(wired.ports.kube, (message) => io.stderr.write(`warning: ${message}\n`));
    for (const event of log.events) recorder.sink(event);
    const closePorts = close;
    close = () => {
      closePorts();
      (options.render?.secretBytes as { close?: () => void } | undefined)?.close?.();
    };
    const checkout = gitCheckoutOf(snapshotDir);
    if (checkout && !settings.dryRun) {
      emit({
        code: 'etcd.snapshot-in-checkout',
        at: new Date().toISOString(),
        level: 'warn',
        message: `the etcd snapshot (every Secret of the cluster) will be written inside the git checkout ${checkout}; keep it out of commits`,
        data: { dir: snapshotDir, checkout },
      });
    }
    // A saved plan was reviewed when it was made (terraform apply PLANFILE does not ask either).
    if (!settings.yes && !settings.dryRun && !saved) {
      const report = await inspect(wired.ports, request, {
        skipAddons: settings.skipAddons,
        ...poolOptions(settings),
      }).catch((err: unknown) => {
        throw asPreflightError(err);
      });
      if (report.next.kind === 'done' && report.from === report.desired.version && !addonsPending(report.addons)) {
        // Nothing would change: no confirmation needed.
      } else if (!io.stdinIsTTY && !io.confirm) {
        throw new KubeswapError(
          'invalid',
          'input.confirmation-needed',
          'apply needs --yes when not run on a terminal',
          {
            hint: 'review `kubeswap plan` first, then pass --yes',
          },
        );
      } else {
        io.stderr.write(formatPlan(report, { snapshotDir }));
        const confirm = io.confirm ?? askOnTerminal;
        if (!(await confirm('Replace these machines? [y/N] '))) {
          io.stderr.write('Nothing changed.\n');
          return EXIT.invalid;
        }
      }
    }
    const outcome = await withAvailability(wired.ports, settings.probeIntervalMs, (ports) =>
      apply(ports, request, options, controller.signal),
    );
    if (settings.output === 'text' && outcome.result === 'done')
      io.stderr.write(`Done: ${outcome.swaps} machine(s) replaced.\n`);
    return EXIT.ok;
  } catch (err) {
    exitCode = exitCodeFor(err);
    error = describeError(err);
    const code = err instanceof KubeswapError ? err.code : 'internal';
    const hint = err instanceof KubeswapError ? err.hint : undefined;
    if (settings.output === 'json') {
      io.stdout.write(
        `${JSON.stringify({ code: 'run.failed', level: 'error', at: new Date().toISOString(), message: error, data: { error: code, exitCode, hint, problems: err instanceof KubeswapError ? err.problems : undefined } })}\n`,
      );
    } else {
      io.stderr.write(`error: ${error}\n${hint ? `hint: ${hint}\n` : ''}`);
      if (exitCode === EXIT.internal && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    }
    return exitCode;
  } finally {
    renderer.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await recorder?.finish({ exitCode, error });
    close();
    dropKubeconfig();
    if (settings.summary && command !== 'report') {
      const text = command === 'plan' ? markdownPlan(planned, { exitCode, error }) : undefined;
      // A resumed run's report covers the whole run: the stored timeline holds the earlier processes' events too.
      const events = recorder?.events() ?? log.events;
      writeFileSync(
        settings.summary,
        text ? text + markdownReadiness(log.events) : markdownSummary(events, { exitCode, error }),
        { flag: 'a' },
      );
    }
  }
}

/** The readiness report for `plan`, with the same scope `apply` would check (engine options from the settings). */
async function planReadiness(
  ports: Ports,
  report: PlanReport,
  nodes: NodeView[],
  settings: Settings,
  request: ReadinessRequest,
): Promise<ReadinessReport | undefined> {
  if (!ports.readiness) return undefined;
  const options = engineOptions(settings);
  return checkReadiness(
    { ...ports, readiness: ports.readiness },
    {
      target: report.desired.version,
      replaced: report.candidates.map((c) => c.cp.name),
      machineTimeoutMs: options.machineTimeoutMs,
      drainTimeoutMs: options.drainTimeoutMs,
      // A run of this target in progress: what `apply` will do is resume it, and its readiness is narrowed alike.
      resumedRun: report.runId !== 'planned' ? report.runId : undefined,
      nodes,
    },
    request,
  ).catch((err: unknown) => {
    throw asPreflightError(err);
  });
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

function serializable(report: Awaited<ReturnType<typeof inspect>>) {
  return {
    from: report.from,
    desired: report.desired,
    machines: report.candidates.map((c) => ({ node: c.cp.name, machine: c.cp.machine?.id, reasons: c.reasons })),
    upToDate: report.upToDate,
    orphans: report.orphans,
    gate: report.gate,
    next: report.next,
    inFlight: report.inFlight,
    changes: report.changes,
    kubeadmApi: report.kubeadmApi,
    addons: report.addons,
    scope: report.scope,
    pools: report.pools,
  };
}

/**
 * status and unlock change nothing when they fail: a cluster that does not answer or refuses the identity is the
 * environment's or the user's to fix (exit 2, the server named by the adapter), never an internal error.
 */
function readOnlyFailure(err: unknown): never {
  if (err instanceof KubeswapError && err.failure === 'internal' && err.source !== 'tool') {
    throw new KubeswapError(err.source === 'user' ? 'invalid' : 'blocked', err.code, err.message, {
      hint: err.hint ?? 'check --kubeconfig/--context and that the API server answers; nothing was changed',
      cause: err,
      source: err.source,
    });
  }
  throw err;
}
