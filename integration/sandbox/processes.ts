// Child processes of the sandbox daemon. They stay in the daemon's process group, so `down` (or the daemon's own
// shutdown) ends all of them with one group signal; pid files let `status` and faults address single processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Supervised {
  name: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** True when the sandbox stopped it on purpose (termination, fault, shutdown). */
  stopping: boolean;
}

export class ProcessTable {
  private readonly running = new Map<string, Supervised>();
  /** Called when a process dies without the sandbox asking it to (a crash). */
  onCrash: (name: string, code: number | string) => void = () => {};

  constructor(
    private readonly pidDir: string,
    private readonly logDir: string,
  ) {}

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Supervised {
    if (this.running.has(name)) throw new Error(`process ${name} is already running`);
    const log = openSync(join(this.logDir, `${name}.log`), 'a');
    const child = spawn(command, args, { stdio: ['ignore', log, log], env });
    const entry: Supervised = { name, child, stopping: false, exited: Promise.resolve(0) };
    entry.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.running.delete(name);
        rmSync(join(this.pidDir, `${name}.pid`), { force: true });
        const result = code ?? signal ?? 'unknown';
        if (!entry.stopping) this.onCrash(name, result);
        resolve(result);
      });
      child.on('error', (err) => {
        this.running.delete(name);
        if (!entry.stopping) this.onCrash(name, err.message);
        resolve(err.message);
      });
    });
    if (child.pid) writeFileSync(join(this.pidDir, `${name}.pid`), `${child.pid}\n`);
    this.running.set(name, entry);
    return entry;
  }

  has(name: string): boolean {
    return this.running.has(name);
  }

  names(): string[] {
    return [...this.running.keys()];
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(name: string, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const entry = this.running.get(name);
    if (!entry) return;
    entry.stopping = true;
    entry.child.kill(signal);
    const timer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
    await entry.exited;
    clearTimeout(timer);
  }

  /** Kill without the crash callback being suppressed: a fault, as if the process died by itself. */
  crash(name: string): boolean {
    const entry = this.running.get(name);
    if (!entry) return false;
    entry.child.kill('SIGKILL');
    return true;
  }

  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all(this.names().map((n) => this.stop(n, graceMs)));
  }
}

export { allocatePort } from './ports.ts';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids recorded in DIR/pids, by process name. */
export function readPidFiles(pidDir: string): Record<string, number> {
  const pids: Record<string, number> = {};
  let files: string[] = [];
  try {
    files = readdirSync(pidDir);
  } catch {
    return pids;
  }
  for (const file of files.filter((f) => f.endsWith('.pid'))) {
    const pid = Number(readFileSync(join(pidDir, file), 'utf8').trim());
    if (pid > 0) pids[file.slice(0, -4)] = pid;
  }
  return pids;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs` with the last error. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? `: ${last.message.split('\n')[0]}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * `promise`, or a rejection once `ms` have passed: an attempt that hangs (a request held by an API server whose etcd
 * was just restarted, a gRPC channel still connecting to a member coming back) must not hold up its retries.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Retries `action` until it succeeds or `timeoutMs` has passed, then throws its last error. */
export async function retryingFor<T>(action: () => Promise<T>, timeoutMs: number, delayMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (err) {
      if (Date.now() + delayMs > deadline) throw err;
      await sleep(delayMs);
    }
  }
}

/** Retries `action` a few times: API calls through the load balancer can hit a backend that just died. */
export async function retrying<T>(action: () => Promise<T>, attempts = 5, delayMs = 1000): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await action();
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(delayMs);
    }
  }
}
