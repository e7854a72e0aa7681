// The exec provider: machines are whatever the user's own command manages (Terraform, a script over a
// cloud CLI). kubeswap runs `<command...> <verb>` with a JSON request on stdin and reads one JSON
// object from stdout; providers/README.md ("The exec provider") is the protocol.
import type { Desired, DriftReason, Machine } from '../../src/domain/model.ts';
import { pollUntil } from '../../src/domain/poll.ts';
import {
  type LoadBalancerMembership,
  type MachineProvider,
  PROVIDER_CONTRACT_VERSION,
  type ProviderModule,
} from '../../src/ports/machines.ts';
import { ExecProviderError } from './errors.ts';
import { invoke, type Verb } from './invoke.ts';
import { type ExecProviderOptions, parseOptions } from './options.ts';
import { createdMachineOf, type ExecMachine, machinesOf, resolvedOf, targetsOf } from './protocol.ts';

export { ExecProviderError } from './errors.ts';
export { PROTOCOL_VERSION } from './invoke.ts';
export type { ExecProviderOptions } from './options.ts';
export type { ExecMachine } from './protocol.ts';

export function createExecProvider(
  options: ExecProviderOptions,
  baseEnv: Readonly<Record<string, string | undefined>> = {},
): MachineProvider {
  // An interrupt (ProviderWait) ends the waits between commands, never a command: one may be half-way through a change
  // (a terraform apply holding its state lock) and is better let finish, bounded by provider.timeout. It runs in a
  // process group of its own (invoke.ts), so the terminal's Ctrl-C does not reach it either.
  const call = (verb: Verb, request: Record<string, unknown>) =>
    invoke(
      { command: options.command, timeoutMs: options.timeoutMs, env: { ...baseEnv, ...options.env } },
      verb,
      request,
    );
  // Without a providerIdPattern, a Node links to the machine whose providerId the command listed: every
  // pass lists before it links (observe), so the map is as fresh as the listing.
  const idByProviderId = new Map<string, string>();
  const remember = <T extends Machine[]>(machines: T): T => {
    for (const m of machines) idByProviderId.set(m.providerId, m.id);
    return machines;
  };
  const statusOf = async (machineId: string) =>
    machinesOf('status', await call('status', { machineIds: [machineId] }), '').find((m) => m.id === machineId);

  const loadBalancer: LoadBalancerMembership = {
    targets: async () => targetsOf(await call('targets', {})),
    register: async (machineId) => {
      await call('register', { machineId });
    },
    async deregister(machineId, timeoutMs, wait = {}) {
      const stateOf = async () => (await loadBalancer.targets()).find((t) => t.machineId === machineId)?.state;
      const before = await stateOf();
      if (before === undefined || before === 'absent') return;
      if (before !== 'draining') await call('deregister', { machineId });
      // The command only starts the deregistration; the wait (and its timeout) is ours, like terminate's.
      const drained = await pollUntil(async () => ((await stateOf()) ?? 'absent') === 'absent', {
        intervalMs: options.pollIntervalMs,
        timeoutMs,
        signal: wait.signal,
      });
      if (!drained) {
        throw new ExecProviderError(
          'api-target.draining-timeout',
          `target ${machineId} still draining after ${timeoutMs} ms`,
          {
            hint: 'the load balancer may drain for longer than the timeout; shorten its delay or raise the timeout',
          },
        );
      }
    },
  };

  return {
    contractVersion: PROVIDER_CONTRACT_VERSION,
    name: 'exec',
    capabilities: options.capabilities,

    async resolveDesired(wanted) {
      if (options.images) {
        const imageId = wanted.imageId ?? options.images[wanted.version];
        if (!imageId) {
          return {
            problems: [
              {
                code: 'image.not-found',
                message: `no image for ${wanted.version} in provider.images`,
                hint: `add ${wanted.version}: <image> under provider.images, or pass --image`,
              },
            ],
          };
        }
        return { desired: { version: wanted.version, imageId, force: false }, problems: [] };
      }
      const resolved = resolvedOf(await call('resolve', { ...wanted }));
      if (resolved.problems.length > 0 || !resolved.imageId) return { problems: resolved.problems };
      const { imageId, template, image } = resolved;
      // The provider has no say in forcing; the engine sets it from --force.
      return {
        desired: {
          version: wanted.version,
          imageId,
          ...(template ? { template } : {}),
          ...(image ? { image } : {}),
          force: false,
        },
        problems: [],
      };
    },

    listMachines: async (pool, providerIds) =>
      remember(machinesOf('list', await call('list', { pool, providerIds }), pool)),

    machineIdOf(providerId) {
      if (!options.providerIdPattern) return idByProviderId.get(providerId);
      return options.providerIdPattern.exec(providerId)?.[1];
    },

    drift(machine: Machine, desired: Desired): DriftReason[] {
      const reasons: DriftReason[] = [];
      if (machine.imageId !== desired.imageId) {
        reasons.push({ code: 'image', message: `image ${machine.imageId} != ${desired.imageId}` });
      }
      const reported = (machine as Partial<ExecMachine>).reportedDrift ?? [];
      return [...reasons, ...reported.filter((r) => !reasons.some((own) => own.code === r.code))];
    },

    checkMachines: (machines) => machines.flatMap((m) => (m as Partial<ExecMachine>).problems ?? []),

    async createReplacement(request) {
      const created = createdMachineOf(
        await call('create', {
          pool: request.pool,
          token: request.token,
          runId: request.runId,
          replaces: machineJson(request.replaces),
          desired: request.desired,
          ...(request.userData !== undefined ? { userData: request.userData } : {}),
          tags: request.tags ?? {},
        }),
        request.pool,
      );
      remember([created]);
      return created;
    },

    async terminate(machineId, timeoutMs, wait = {}) {
      const before = await statusOf(machineId);
      if (before === undefined || before.phase === 'gone') return;
      if (before.phase !== 'deleting') await call('delete', { machineId });
      const gone = await pollUntil(async () => ((await statusOf(machineId))?.phase ?? 'gone') === 'gone', {
        intervalMs: options.pollIntervalMs,
        timeoutMs,
        signal: wait.signal,
      });
      if (!gone) {
        throw new ExecProviderError('terminate.timeout', `machine ${machineId} was not gone within ${timeoutMs} ms`, {
          hint: '`status` must answer phase "gone" (or leave the machine out) once it is deleted; re-run once it is',
        });
      }
    },

    ...(options.loadBalancer ? { loadBalancer } : {}),
  };
}

/** A machine as the command sees it again in `create`'s `replaces` (also one the engine read back from JSON). */
function machineJson(machine: Machine): Record<string, unknown> {
  const m = machine as Partial<ExecMachine> & Machine;
  const launchedAt = m.launchedAt instanceof Date ? m.launchedAt.toISOString() : String(m.launchedAt);
  return {
    id: m.id,
    providerId: m.providerId,
    pool: m.pool,
    phase: m.phase,
    status: m.status,
    zone: m.zone,
    imageId: m.imageId,
    launchedAt,
    ...(m.replaces ? { replaces: m.replaces } : {}),
    ...(m.runId ? { runId: m.runId } : {}),
    ...(m.data ? { data: m.data } : {}),
  };
}

/** The registry's entry (providers/index.ts): the `provider:` section of the configuration -> a provider. */
export const provider: ProviderModule = {
  contractVersion: PROVIDER_CONTRACT_VERSION,
  name: 'exec',
  create: ({ settings, pollIntervalMs, env }) => createExecProvider(parseOptions(settings, pollIntervalMs), env),
};
