// The provider registry: `provider.name` picks one. Built-in providers load through the same contract
// check as a third party's would, and only when picked (the AWS SDK is not loaded for `--help`).
import { KubeswapError } from '../src/domain/errors.ts';
import {
  type MachineProvider,
  PROVIDER_CONTRACT_VERSION,
  type ProviderContext,
  type ProviderModule,
} from '../src/ports/machines.ts';

const BUILT_IN: Record<string, () => Promise<{ provider: ProviderModule }>> = {
  'aws-ec2': () => import('./aws-ec2/index.ts'),
  'aws-asg': () => import('./aws-asg/index.ts'),
  exec: () => import('./exec/index.ts'),
  'cluster-api': () => import('./cluster-api/index.ts'),
};

export const BUILT_IN_PROVIDERS = Object.keys(BUILT_IN);

/** Loads the named provider module, checks its contract version, creates the provider and checks its shape. */
export async function loadProvider(
  name: string,
  context: ProviderContext,
): Promise<MachineProvider & { destroy?(): void }> {
  const load = BUILT_IN[name];
  if (!load) {
    throw new KubeswapError('invalid', 'provider.unknown', `unknown provider "${name}"`, {
      hint: `provider.name is one of: ${BUILT_IN_PROVIDERS.join(', ')}`,
    });
  }
  const { provider: module } = await load();
  checkModule(module, name);
  const provider = module.create(context);
  checkProvider(provider, name);
  return provider;
}

/** The workload cluster's kubeconfig from the provider, when its module knows one (ProviderModule.workloadKubeconfig). */
export async function loadWorkloadKubeconfig(name: string, context: ProviderContext): Promise<string | undefined> {
  const load = BUILT_IN[name];
  if (!load) return undefined;
  const { provider: module } = await load();
  checkModule(module, name);
  return module.workloadKubeconfig?.(context);
}

export function checkModule(
  module: Partial<ProviderModule> | undefined,
  name: string,
): asserts module is ProviderModule {
  if (module?.contractVersion !== PROVIDER_CONTRACT_VERSION || typeof module.create !== 'function') {
    throw new KubeswapError(
      'invalid',
      'provider.contract-mismatch',
      `provider ${name} implements contract ${String(module?.contractVersion)}, this kubeswap needs ${PROVIDER_CONTRACT_VERSION}`,
      { hint: 'use a provider built for this kubeswap version (providers/README.md)' },
    );
  }
}

const METHODS = [
  'resolveDesired',
  'listMachines',
  'machineIdOf',
  'drift',
  'checkMachines',
  'createReplacement',
  'terminate',
] as const;

export function checkProvider(candidate: unknown, name: string): asserts candidate is MachineProvider {
  const p = candidate as Partial<MachineProvider> | undefined;
  const missing = METHODS.filter((m) => typeof p?.[m] !== 'function');
  const caps = p?.capabilities;
  if (!caps || typeof caps.surge !== 'boolean' || typeof caps.ownsLoadBalancer !== 'boolean')
    missing.push('capabilities' as never);
  if (caps?.drainsOnDelete && typeof p?.startDeletion !== 'function') missing.push('startDeletion' as never);
  if (caps?.rollsPools && typeof p?.pools?.rollouts !== 'function') missing.push('pools' as never);
  if (p?.contractVersion !== PROVIDER_CONTRACT_VERSION || missing.length > 0) {
    throw new KubeswapError(
      'invalid',
      'provider.contract-mismatch',
      `provider ${name} does not implement contract ${PROVIDER_CONTRACT_VERSION}` +
        (missing.length > 0 ? `: lacks ${missing.join(', ')}` : ` (it says ${String(p?.contractVersion)})`),
      { hint: 'use a provider built for this kubeswap version (providers/README.md)' },
    );
  }
}
