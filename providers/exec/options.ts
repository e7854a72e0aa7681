// Settings of the exec provider (the `provider:` section), validated once with every problem reported
// together, and their defaults. providers/README.md documents each key.
import { parseDuration } from '../../src/domain/duration.ts';
import type { ProviderCapabilities } from '../../src/ports/machines.ts';
import { ExecProviderError } from './errors.ts';

export interface ExecProviderOptions {
  /** argv of the user's command; the verb is appended as the last argument. */
  command: string[];
  /** Longest one invocation may take before it is killed. */
  timeoutMs: number;
  capabilities: ProviderCapabilities;
  /** The command answers `targets`, `register` and `deregister` for the API load balancer. */
  loadBalancer: boolean;
  /** Kubernetes version -> image: when not empty, `resolve` is answered from here instead of by the command. */
  images?: Record<string, string>;
  /** One capture group: the machine id inside a Node's providerID. Default: the providerIds `list` returned. */
  providerIdPattern?: RegExp;
  /** Extra environment for the command (on top of kubeswap's own). */
  env: Record<string, string>;
  pollIntervalMs: number;
}

export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/** A command is a user's script: it plans for a retry after a rollback, not a cloud's client token. */
export const DEFAULT_CAPABILITIES: ProviderCapabilities = {
  surge: true,
  ownsLoadBalancer: false,
  rendersBootstrap: false,
  acceptsUserData: true,
  idempotencyKey: 'tag',
};
const IDEMPOTENCY_KEYS = ['client-token', 'name', 'tag'];

/** The `provider:` section -> options; throws one `options.invalid` naming every problem. */
export function parseOptions(settings: Readonly<Record<string, unknown>>, pollIntervalMs: number): ExecProviderOptions {
  const problems: string[] = [];
  const command = parseCommand(settings['command'], problems);

  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (settings['timeout'] !== undefined) {
    const ms = parseDuration(settings['timeout'] as string | number);
    if (ms === undefined || ms <= 0)
      problems.push(`timeout ${String(settings['timeout'])} is not a duration like 90s or 5m`);
    else timeoutMs = ms;
  }

  const capabilities = { ...DEFAULT_CAPABILITIES };
  const caps = settings['capabilities'];
  if (caps !== undefined) {
    if (!isRecord(caps)) problems.push('capabilities must be a mapping');
    else {
      for (const [key, value] of Object.entries(caps)) {
        if (key === 'surge' || key === 'ownsLoadBalancer' || key === 'rendersBootstrap' || key === 'acceptsUserData') {
          if (typeof value === 'boolean') capabilities[key] = value;
          else problems.push(`capabilities.${key} must be true or false`);
        } else if (key === 'idempotencyKey') {
          if (IDEMPOTENCY_KEYS.includes(value as string)) capabilities.idempotencyKey = value as 'tag';
          else problems.push(`capabilities.idempotencyKey must be one of ${IDEMPOTENCY_KEYS.join(', ')}`);
        } else
          problems.push(
            `capabilities.${key} is not a capability (surge, ownsLoadBalancer, rendersBootstrap, acceptsUserData, idempotencyKey)`,
          );
      }
    }
  }

  const loadBalancer = settings['loadBalancer'] ?? false;
  if (typeof loadBalancer !== 'boolean') problems.push('loadBalancer must be true or false');
  if (loadBalancer === true && capabilities.ownsLoadBalancer) {
    problems.push('loadBalancer: true and capabilities.ownsLoadBalancer: true contradict each other (who registers?)');
  }

  const images = settings['images'];
  if (images !== undefined && !(isRecord(images) && Object.values(images).every((v) => typeof v === 'string'))) {
    problems.push('images must map Kubernetes versions to image ids');
  }

  let providerIdPattern: RegExp | undefined;
  const pattern = settings['providerIdPattern'];
  if (pattern !== undefined) {
    try {
      providerIdPattern = new RegExp(String(pattern));
      if (new RegExp(`${providerIdPattern.source}|`).exec('')!.length !== 2) {
        problems.push('providerIdPattern must have exactly one capture group (the machine id)');
      }
    } catch (error) {
      problems.push(`providerIdPattern is not a regular expression: ${(error as Error).message}`);
    }
  }

  const env = settings['env'] ?? {};
  if (!isRecord(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    problems.push('env must map variable names to strings');
  }

  if (problems.length > 0) {
    throw new ExecProviderError('options.invalid', `invalid exec provider options: ${problems.join('; ')}`, {
      hint: 'see providers/README.md ("The exec provider")',
    });
  }
  return {
    command,
    timeoutMs,
    capabilities,
    loadBalancer: loadBalancer === true,
    // Empty is absent: the CLI's settings always carry an `images` map.
    ...(isRecord(images) && Object.keys(images).length > 0 ? { images: images as Record<string, string> } : {}),
    ...(providerIdPattern ? { providerIdPattern } : {}),
    env: env as Record<string, string>,
    pollIntervalMs,
  };
}

/** `command: [argv...]` runs as given; a string is one executable path (never a shell line: no quoting traps). */
function parseCommand(value: unknown, problems: string[]): string[] {
  if (typeof value === 'string' && value.trim() !== '') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string') && value[0] !== '') {
    return value as string[];
  }
  problems.push('command is required: an executable path, or a list [program, args...]');
  return [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
