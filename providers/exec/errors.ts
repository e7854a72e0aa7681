// The exec provider's one coded error. `code` is stable (the engine matches `capacity.insufficient`,
// scenarios match the rest); a code the user's command returned in `{"error": {...}}` is kept as is.
import type { ProviderProblem } from '../../src/ports/machines.ts';

export type ExecErrorCode =
  | 'options.invalid'
  | 'command.failed'
  | 'command.timeout'
  | 'command.not-started'
  | 'response.invalid'
  | 'terminate.timeout'
  | 'api-target.draining-timeout';

export class ExecProviderError extends Error {
  override readonly name = 'ExecProviderError';
  /** One of ExecErrorCode, or the code the user's command reported (e.g. `capacity.insufficient`). */
  readonly code: string;
  readonly hint?: string;

  constructor(code: ExecErrorCode | (string & {}), message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
  }

  toProblem(): ProviderProblem {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

// kubeadm bootstrap tokens (`abcdef.0123456789abcdef`) and certificate keys (64 hex digits) are what
// render-mode user data carries; a command that echoes its stdin must not leak them into logs.
const SECRETS = [/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g, /\b[0-9a-f]{64}\b/gi];

/**
 * Text with bootstrap secrets, and the request's user data (verbatim, JSON-escaped as an echoed request
 * shows it, or base64 as a cloud API takes it), replaced by `<redacted>`.
 */
export function redact(text: string, userData?: string): string {
  let out = text;
  if (userData && userData.length >= 8) {
    const forms = [userData, JSON.stringify(userData).slice(1, -1), Buffer.from(userData).toString('base64')];
    for (const form of forms) out = out.split(form).join('<redacted>');
  }
  for (const pattern of SECRETS) out = out.replace(pattern, '<redacted>');
  return out;
}
