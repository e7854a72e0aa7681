// The one contract every machine provider implements (built-in ones too), versioned and checked at
// load time so a provider built for another contract is refused with a clear message.
import type { ApiTarget, Desired, Machine } from '../domain/model.ts';

export const PROVIDER_CONTRACT_VERSION = 1;

export interface ProviderProblem {
  /** Stable code, e.g. `image.not-found`, `launch-template.not-found`. */
  code: string;
  message: string;
  /** What to do about it. */
  hint?: string;
}

export interface ReplacementRequest {
  /** The machine being replaced: the replacement lands in its subnet/AZ. */
  replaces: Machine;
  runId: string;
  /** Deterministic idempotency token (<= 64 chars): a re-run finds, never duplicates. */
  token: string;
  desired: Desired;
  /** Base64-free user data to pass instead of the launch template's (render mode); undefined = launch template's. */
  userData?: string;
  /** Extra tags to set at launch. */
  tags?: Record<string, string>;
}

export interface MachineProvider {
  readonly contractVersion: typeof PROVIDER_CONTRACT_VERSION;
  readonly name: string;
  /** Checks the desired image / launch template exist and resolves `$Latest`/`$Default` to numbers. */
  resolveDesired(desired: {
    version: string;
    imageId?: string;
  }): Promise<{ desired?: Desired; problems: ProviderProblem[] }>;
  /** Machines linked to the given providerIds plus every machine tagged for this cluster (replacements). */
  listMachines(providerIds: string[]): Promise<Machine[]>;
  /**
   * Problems with machines the run would replace that this provider does not manage as configured (e.g. the
   * instance lacks this cluster's tag: a wrong cluster name would tag replacements so a re-run cannot find them).
   */
  checkMachines(machines: Machine[]): ProviderProblem[];
  /** Creates (or finds, by token) the replacement. */
  createReplacement(request: ReplacementRequest): Promise<Machine>;
  /** Terminates and waits until terminated. Succeeds when already terminated or gone. */
  terminate(machineId: string, timeoutMs: number): Promise<void>;
  /** API load balancer membership; undefined when no load balancer is configured. */
  apiTargets(): Promise<ApiTarget[] | undefined>;
  registerApiTarget(machineId: string): Promise<void>;
  /** Deregisters and waits until the target has finished draining. */
  deregisterApiTarget(machineId: string, timeoutMs: number): Promise<void>;
}

export function assertProvider(candidate: unknown): asserts candidate is MachineProvider {
  const p = candidate as Partial<MachineProvider> | undefined;
  if (!p || p.contractVersion !== PROVIDER_CONTRACT_VERSION) {
    throw new Error(
      `provider ${p?.name ?? '(unnamed)'} implements contract ${String(p?.contractVersion)}, kubeswap needs ${PROVIDER_CONTRACT_VERSION}`,
    );
  }
  for (const method of [
    'resolveDesired',
    'listMachines',
    'createReplacement',
    'terminate',
    'apiTargets',
    'registerApiTarget',
    'deregisterApiTarget',
  ] as const) {
    if (typeof p[method] !== 'function') throw new Error(`provider ${p.name} lacks ${method}()`);
  }
}
