// One invocation of the user's command: `<command...> <verb>`, the request as JSON on stdin, the response
// as one JSON object on stdout, stderr kept for the error message, killed at the timeout.
import { spawn } from 'node:child_process';
import { ExecProviderError, redact } from './errors.ts';

export const PROTOCOL_VERSION = 1;

export type Verb = 'resolve' | 'list' | 'status' | 'create' | 'delete' | 'targets' | 'register' | 'deregister';

export interface InvokeOptions {
  command: string[];
  timeoutMs: number;
  env: Readonly<Record<string, string | undefined>>;
}

/** Stderr kept for an error message: its end, where the reason usually is. */
const STDERR_TAIL = 2_000;
/** After SIGTERM at the timeout, the command has this long to clean up before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/**
 * Runs `verb` and returns the parsed response object. A non-zero exit is an error carrying the command's
 * trimmed stderr, or the `{"error": {code, message, hint}}` it printed; the request (it may hold user data
 * with a bootstrap token) never appears in a message.
 */
export async function invoke(
  options: InvokeOptions,
  verb: Verb,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const secret = typeof request['userData'] === 'string' ? request['userData'] : undefined;
  const what = `${options.command.join(' ')} ${verb}`;
  const { code, signal, stdout, stderr, timedOut, spawnError } = await run(options, verb, {
    protocol: PROTOCOL_VERSION,
    verb,
    ...request,
  });
  const said = redact(stderr.trim(), secret).slice(-STDERR_TAIL);
  if (spawnError) {
    throw new ExecProviderError('command.not-started', `failed to run ${what}: ${spawnError.message}`, {
      hint: 'provider.command must name an executable file (an absolute path is safest)',
      cause: spawnError,
    });
  }
  if (timedOut) {
    throw new ExecProviderError(
      'command.timeout',
      `${what} did not finish within ${options.timeoutMs} ms${said ? `: ${said}` : ''}`,
      {
        hint: 'raise provider.timeout, or make the command return sooner (kubeswap polls `status` itself)',
      },
    );
  }
  const parsed = parseObject(stdout);
  if (code !== 0) {
    const reported = parsed?.['error'];
    if (isRecord(reported) && typeof reported['message'] === 'string') {
      const hint = typeof reported['hint'] === 'string' ? redact(reported['hint'], secret) : undefined;
      throw new ExecProviderError(
        typeof reported['code'] === 'string' ? reported['code'] : 'command.failed',
        `${what} failed: ${redact(reported['message'], secret)}`,
        hint ? { hint } : {},
      );
    }
    throw new ExecProviderError(
      'command.failed',
      `${what} failed (${signal ? `signal ${signal}` : `exit ${code}`})${said ? `: ${said}` : ' with no message on stderr'}`,
    );
  }
  if (!parsed) {
    const shown = redact(stdout.trim(), secret).slice(0, 200);
    throw new ExecProviderError(
      'response.invalid',
      `${what} printed no JSON object on stdout${shown ? ` (got: ${shown})` : ''}`,
      {
        hint: 'print exactly one JSON object on stdout; write logs to stderr',
      },
    );
  }
  return parsed;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: Error;
}

function run(options: InvokeOptions, verb: Verb, request: Record<string, unknown>): Promise<Outcome> {
  const [program, ...args] = options.command;
  return new Promise((resolve) => {
    // Its own process group, so a timeout also ends what the command started (terraform, python, aws).
    const child = spawn(program!, [...args, verb], {
      env: options.env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const outcome: Outcome = { code: null, signal: null, stdout: '', stderr: '', timedOut: false };
    const kill = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // Already gone.
      }
    };
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      kill('SIGTERM');
      grace = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
    }, options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      outcome.stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      outcome.stderr += chunk;
      if (outcome.stderr.length > 4 * STDERR_TAIL) outcome.stderr = outcome.stderr.slice(-2 * STDERR_TAIL);
    });
    // A command that does not read its stdin closes the pipe early: that is its business, not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(request));
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(grace);
      resolve(outcome);
    };
    child.on('error', (error) => {
      outcome.spawnError = error;
      finish();
    });
    child.on('close', (code, signal) => {
      outcome.code = code;
      outcome.signal = signal;
      finish();
    });
  });
}

/** The one JSON object on stdout (surrounding whitespace allowed), or undefined. */
function parseObject(stdout: string): Record<string, unknown> | undefined {
  const text = stdout.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
