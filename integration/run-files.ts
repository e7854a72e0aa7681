// Runs the integration test files side by side: one mocha process per file (each brings up its own sandbox or
// fixtures; ports are reserved across processes, state lives in temp dirs), at most `--jobs` at a time, the files
// that took longest last time first. A file's output is printed whole when it ends, so files running together
// never interleave; at the end come every file's wall time, slowest first, and the summed counts.
//   node --import tsx integration/run-files.ts [--jobs N] [FILE...]     (default: the spec of .mocharc.json)
// A failed file runs once more (retryFailed). With TEST_TALLY_FILE set (test/run-all.sh), each file's final
// "passed failed skipped" is appended there too; with TEST_FAILURES_FILE set, each finally failed test's line
// (test/summary-reporter.cjs), and a file that died without one.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  globSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, freemem, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sweepStalePorts } from './sandbox/ports.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = join(REPO, 'integration/.mocharc.json');
const MOCHA = join(REPO, 'node_modules/mocha/bin/mocha.js');
/** Wall times of the last run, to start the long files first; a cache, not part of the repo. */
const DURATIONS = join(REPO, 'node_modules/.cache/kubeswap/integration-durations.json');
/** A sandbox with its apiservers, etcd members, controllers and moto holds about this much memory. */
const SANDBOX_BYTES = 3 * 2 ** 30;

interface Outcome {
  file: string;
  seconds: number;
  passed: number;
  failed: number;
  skipped: number;
  exit: number | string;
  /** One line per failed test (test/summary-reporter.cjs), or why the file died. */
  failures: string[];
  /** The failures of a first attempt that the retry passed: printed, never hidden. */
  flaky?: string[];
}

const { jobs, files } = parseArgs(process.argv.slice(2));
const work = mkdtempSync(join(tmpdir(), 'kubeswap-integration-'));
const running = new Set<ChildProcess>();
let interrupted = false;

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    // Each mocha runs in its own process group with the fixtures' servers and kubeswap processes it started: end
    // the group. A sandbox daemon (a group of its own) tears its sandbox down once its mocha is gone.
    interrupted = true;
    for (const child of running) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  });
}

sweepStalePorts();
const started = Date.now();
const outcomes = await runAll(order(files), jobs);
await retryFailed(outcomes, jobs);
const wall = (Date.now() - started) / 1000;
for (const o of outcomes) recordTally(o);
sweepStalePorts();
rmSync(work, { recursive: true, force: true });
saveDurations(outcomes);
report(outcomes, wall);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
process.exitCode = interrupted ? 130 : failed > 0 || outcomes.length < files.length ? 1 : 0;

function parseArgs(args: string[]): { jobs: number; files: string[] } {
  let jobs = Number(process.env['TEST_JOBS'] ?? 0) || defaultJobs();
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--jobs' || arg === '-j') jobs = Number(args[++i]);
    else if (arg.startsWith('--jobs=')) jobs = Number(arg.slice('--jobs='.length));
    else files.push(relative(REPO, resolve(arg)));
  }
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs needs a whole number >= 1, got ${jobs}`);
  return { jobs, files: files.length > 0 ? files : specFiles() };
}

/**
 * Most of a scenario's time is waiting for boots and gates, yet a sandbox's bring-up and joins keep a core busy:
 * measured on 2 cores, 2 files side by side took 12.5 min and 3 took 17 (48 min of files at load 30, against 25
 * min at load 10). So as many as cores, at least 2, and no more sandboxes than free memory holds.
 */
function defaultJobs(): number {
  return Math.max(1, Math.min(Math.max(2, availableParallelism()), Math.floor(freemem() / SANDBOX_BYTES)));
}

function specFiles(): string[] {
  const spec = (JSON.parse(readFileSync(CONFIG, 'utf8')) as { spec: string[] }).spec;
  return [...new Set(spec.flatMap((pattern) => globSync(pattern, { cwd: REPO })))].sort();
}

/**
 * Longest first (by the last run), so that a long file never starts last and holds up the end. A file without a
 * time (a new file, or a fresh clone) counts as long when it brings up sandboxes: scenarios, then the sandbox's own.
 */
function order(list: string[]): string[] {
  let last: Record<string, number> = {};
  try {
    last = JSON.parse(readFileSync(DURATIONS, 'utf8')) as Record<string, number>;
  } catch {
    // First run here.
  }
  const unknown = (file: string) =>
    file.startsWith('integration/scenarios/') ? 3e9 : file.startsWith('integration/sandbox/') ? 2e9 : 1e9;
  const weight = (file: string) => last[file] ?? unknown(file);
  return [...list].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));
}

async function runAll(queue: string[], limit: number): Promise<Outcome[]> {
  // mocha adds the config's spec to the files it is given: each process gets the same options, minus the spec.
  const { spec: _spec, ...options } = JSON.parse(readFileSync(CONFIG, 'utf8')) as Record<string, unknown>;
  const config = join(work, 'mocharc.json');
  writeFileSync(config, JSON.stringify(options));
  console.log(`integration: ${queue.length} files, ${Math.min(limit, queue.length)} side by side`);
  return runPool(queue, limit, (file) => runFile(file, config, 1));
}

async function runPool(queue: string[], limit: number, run: (file: string) => Promise<Outcome>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const pending = [...queue];
  const worker = async () => {
    for (let file = pending.shift(); file !== undefined && !interrupted; file = pending.shift()) {
      outcomes.push(await run(file));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
  return outcomes;
}

/**
 * A file that failed runs once more on its own fresh sandbox (TEST_RETRY=0 turns this off). Scenarios bring up
 * a whole cluster of real processes on 2 shared cores, and a rare failure of that machinery must not hide a
 * green suite; a file that fails twice fails, and one that passed only on retry is listed as flaky with what
 * failed the first time, so the flake stays visible and gets fixed.
 */
async function retryFailed(outcomes: Outcome[], limit: number): Promise<void> {
  const failed = outcomes.filter((o) => o.failed > 0);
  if (failed.length === 0 || interrupted || process.env['TEST_RETRY'] === '0') return;
  const config = join(work, 'mocharc.json');
  console.log(`integration: retrying ${failed.length} failed file(s) once: ${failed.map((o) => o.file).join(', ')}`);
  const retried = await runPool(
    failed.map((o) => o.file),
    limit,
    (file) => runFile(file, config, 2),
  );
  for (const again of retried) {
    const index = outcomes.findIndex((o) => o.file === again.file);
    const first = outcomes[index]!;
    const seconds = first.seconds + again.seconds;
    outcomes[index] =
      again.failed === 0
        ? { ...again, seconds, flaky: first.failures }
        : { ...again, seconds, failures: again.failures };
  }
}

/** The final outcome of each file into the caller's tally and failure list (test/run-all.sh reads both). */
function recordTally(o: Outcome): void {
  if (process.env['TEST_TALLY_FILE']) {
    appendFileSync(process.env['TEST_TALLY_FILE'], `${o.passed} ${o.failed} ${o.skipped}\n`);
  }
  if (process.env['TEST_FAILURES_FILE'] && o.failed > 0) {
    appendFileSync(process.env['TEST_FAILURES_FILE'], o.failures.map((line) => `${line}\n`).join(''));
  }
}

async function runFile(file: string, config: string, attempt: number): Promise<Outcome> {
  const base = join(work, `${file.replaceAll('/', '_')}.${attempt}`);
  const tally = `${base}.tally`;
  const failuresFile = `${base}.failures`;
  const log = openSync(`${base}.log`, 'w');
  const t0 = Date.now();
  console.log(`  started  ${file}${attempt > 1 ? ` (attempt ${attempt})` : ''} (${running.size + 1} running)`);
  const child = spawn(process.execPath, [MOCHA, '--config', config, file], {
    cwd: REPO,
    env: { ...process.env, TEST_TALLY_FILE: tally, TEST_FAILURES_FILE: failuresFile },
    stdio: ['ignore', log, log],
    detached: true,
  });
  running.add(child);
  const exit = await new Promise<number | string>((done) => {
    child.on('error', (err) => done(err.message));
    child.on('exit', (code, signal) => done(code ?? signal ?? 'unknown'));
  });
  running.delete(child);
  closeSync(log);
  const seconds = (Date.now() - t0) / 1000;
  const [passed = 0, failed = 0, skipped = 0] = existsSync(tally)
    ? readFileSync(tally, 'utf8').trim().split(/\s+/).map(Number)
    : [];
  const failures = existsSync(failuresFile) ? readFileSync(failuresFile, 'utf8').split('\n').filter(Boolean) : [];
  // A file that died before its reporter's closing line (or failed without failing a test) still counts as failed.
  if (exit !== 0 && failed === 0) failures.push(`${file}: exited (${exit}) without a failed test`);
  const outcome = { file, seconds, passed, failed: exit !== 0 && failed === 0 ? 1 : failed, skipped, exit, failures };
  const status = exit === 0 ? 'ok' : `FAILED (exit ${exit})`;
  console.log(`\n===== ${file}: ${status} in ${Math.round(seconds)} s =====`);
  process.stdout.write(readFileSync(`${base}.log`, 'utf8'));
  console.log(`===== end of ${file} =====\n`);
  return outcome;
}

function saveDurations(outcomes: Outcome[]): void {
  let durations: Record<string, number> = {};
  try {
    durations = JSON.parse(readFileSync(DURATIONS, 'utf8')) as Record<string, number>;
  } catch {
    // None yet.
  }
  for (const o of outcomes) durations[o.file] = Math.round(o.seconds);
  mkdirSync(dirname(DURATIONS), { recursive: true });
  writeFileSync(DURATIONS, `${JSON.stringify(durations, null, 2)}\n`);
}

function report(outcomes: Outcome[], wall: number): void {
  const sum = (pick: (o: Outcome) => number) => outcomes.reduce((n, o) => n + pick(o), 0);
  const minutes = (s: number) => `${Math.floor(s / 60)} m ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  console.log('integration wall time per file, slowest first:');
  for (const o of [...outcomes].sort((a, b) => b.seconds - a.seconds)) {
    const mark = o.failed > 0 ? `  ${o.failed} failed` : o.flaky ? '  (passed on retry)' : '';
    console.log(`  ${String(Math.round(o.seconds)).padStart(5)} s  ${o.file}${mark}`);
  }
  for (const o of outcomes.filter((x) => x.flaky)) {
    console.log(`flaky: ${o.file} failed, then passed on its retry; the first time:`);
    for (const line of o.flaky!.slice(0, 5)) console.log(`  ${line}`);
  }
  const skippedFiles = files.length - outcomes.length;
  if (skippedFiles > 0) console.log(`  (${skippedFiles} files not run: interrupted)`);
  console.log(
    `integration: ${minutes(wall)} wall for ${minutes(sum((o) => o.seconds))} of files, ${Math.min(jobs, files.length)} side by side`,
  );
  const skipped = sum((o) => o.skipped);
  console.log(
    `${sum((o) => o.passed)} passed, ${sum((o) => o.failed) + (skippedFiles > 0 ? 1 : 0)} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`,
  );
}
