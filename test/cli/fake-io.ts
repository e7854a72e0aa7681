import type { Io } from '../../src/cli/io.ts';

/** An Io that keeps what the command wrote, for assertions; no terminal, no environment. */
export function io(): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (t) => void out.push(t), isTTY: false },
    stderr: { write: (t) => void err.push(t), isTTY: false },
    stdinIsTTY: false,
    env: {},
  };
}
