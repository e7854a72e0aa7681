// kubeswap's entry: parse, build settings, run one command, map the outcome to an exit code.
// The only module that decides exit codes or writes to stdout/stderr.
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import yargs from 'yargs';
import { describeError, invalid, KubeswapError } from '../domain/errors.ts';
import { EventLog, fanOut } from '../domain/events.ts';
import { asPreflightError } from '../engine/checks/preflight-errors.ts';
import { apply, inspect } from '../engine/run/run.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { type Io, processIo } from './io.ts';
import { globalOptions, upgradeOptions } from './options.ts';
import { formatPlan } from './plan-report.ts';
import { jsonRenderer, textRenderer } from './render.ts';
import { type FlatInput, readConfigFile, resolveSettings, type Settings } from './settings.ts';
import { showStatus, unlock } from './status.ts';
import { markdownSummary } from './summary.ts';
import { engineOptions, wire } from './wiring.ts';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let parsed: { command?: Settings['command']; args: FlatInput } | undefined;
  const parser = globalOptions(
    yargs(argv)
      .scriptName('kubeswap')
      .env('KUBESWAP')
      .usage('$0 <command> [options]\n\nReplace the control-plane machines of a kubeadm cluster one at a time.'),
  )
    .command('plan', 'show which machines would be replaced, in order, and why', upgradeOptions, (a) => {
      parsed = { command: 'plan', args: a };
    })
    .command(
      'apply',
      'replace the machines until the cluster matches the target',
      (y) =>
        upgradeOptions(y)
          .option('yes', { type: 'boolean', describe: 'do not ask for confirmation' })
          .option('dry-run', { type: 'boolean', describe: 'show what would be done, change nothing' }),
      (a) => {
        parsed = { command: 'apply', args: a };
      },
    )
    .command('status', 'show the lock holder and the progress record', {}, (a) => {
      parsed = { command: 'status', args: a };
    })
    .command('unlock', 'break a stale lock left by a dead run', {}, (a) => {
      parsed = { command: 'unlock', args: a };
    })
    .demandCommand(1, 'give a command: plan, apply, status or unlock')
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new KubeswapError('invalid', 'input.usage', msg);
    });

  let helpText = '';
  try {
    await parser.parseAsync(argv, {}, (_err, _argv, output) => {
      helpText = output;
    });
  } catch (err) {
    io.stderr.write(`error: ${describeError(err)}\nRun kubeswap --help for usage.\n`);
    return EXIT.invalid;
  }
  if (!parsed) {
    if (helpText) io.stdout.write(`${helpText}\n`);
    return EXIT.ok;
  }
  return run(parsed.command!, parsed.args, io);
}

async function run(command: Settings['command'], args: FlatInput, io: Io): Promise<number> {
  const log = new EventLog();
  const file = args['config'] ? readConfigFile(String(args['config'])) : { input: {}, problems: [] };
  const { settings, problems } = resolveSettings(command, [file.input, args]);
  const renderer =
    settings.output === 'json' ? { sink: jsonRenderer(io.stdout), stop: () => {} } : textRenderer(io.stderr);
  const emit = fanOut(log.sink, renderer.sink);
  let exitCode: number = EXIT.ok;
  let error: string | undefined;
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let close = () => {};
  try {
    const allProblems = [...file.problems, ...problems];
    if (allProblems.length > 0) throw invalid(allProblems);
    if (command === 'status') return await showStatus(settings, io);
    if (command === 'unlock') return await unlock(settings, io);
    const wired = await wire(settings, emit).catch((err: unknown) => {
      throw asPreflightError(err);
    });
    close = wired.close;
    const request = {
      version: settings.to,
      imageId: settings.image,
      force: settings.force,
      maxSurge: settings.maxSurge,
      render: settings.userData === 'render',
    };
    if (command === 'plan') {
      const report = await inspect(wired.ports, request).catch((err: unknown) => {
        throw asPreflightError(err);
      });
      if (settings.output === 'json')
        io.stdout.write(`${JSON.stringify({ code: 'plan.report', ...serializable(report) })}\n`);
      else io.stdout.write(formatPlan(report));
      exitCode = report.next.kind === 'blocked' ? EXIT.invalid : EXIT.ok;
      return exitCode;
    }
    const options = engineOptions(settings);
    const closePorts = close;
    close = () => {
      closePorts();
      (options.render?.secretBytes as { close?: () => void } | undefined)?.close?.();
    };
    if (!settings.yes && !settings.dryRun) {
      const report = await inspect(wired.ports, request).catch((err: unknown) => {
        throw asPreflightError(err);
      });
      if (report.next.kind === 'done' && report.from === report.desired.version) {
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
        io.stderr.write(formatPlan(report));
        const confirm = io.confirm ?? askOnTerminal;
        if (!(await confirm('Replace these machines? [y/N] '))) {
          io.stderr.write('Nothing changed.\n');
          return EXIT.invalid;
        }
      }
    }
    const outcome = await apply(wired.ports, request, options, controller.signal);
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
    close();
    if (settings.summary)
      writeFileSync(settings.summary, markdownSummary(log.events, { exitCode, error }), { flag: 'a' });
  }
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
  };
}
