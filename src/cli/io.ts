// The process's streams and environment as the commands see them; tests pass their own.
import type { Output } from './render/events.ts';

export interface Io {
  stdout: Output;
  stderr: Output;
  stdinIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  confirm?: (question: string) => Promise<boolean>;
}

export const processIo = (): Io => ({
  stdout: { write: (t) => process.stdout.write(t), isTTY: process.stdout.isTTY === true },
  stderr: { write: (t) => process.stderr.write(t), isTTY: process.stderr.isTTY === true },
  stdinIsTTY: process.stdin.isTTY === true,
  env: process.env,
});
