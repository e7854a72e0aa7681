// Everything that must hold before a run changes anything, collected and reported together
// (changesets config rules): a bad input is refused with every problem at once, exit 2.

import type { Problem } from '../../domain/errors.ts';
import { apiVersionNeed } from '../../domain/kubeadm/api-migration.ts';
import type { KubeadmApiVersion } from '../../domain/kubeadm/cluster-config.ts';
import { parseTargetVersion, validateUpgrade } from '../../domain/kubeadm/versions.ts';
import { CONTROL_PLANE_POOL, type Desired, type NodeView } from '../../domain/model.ts';
import { type ClusterConfigView, linksTo } from '../observe/snapshot.ts';
import { isRetiring } from '../plan/annotations.ts';
import type { Ports } from '../ports.ts';
import type { ClusterFingerprint } from '../run/saved-plan.ts';
import type { ReadinessRequest } from './readiness/run-readiness.ts';

export interface UpgradeRequest {
  /** `vX.Y.Z`; absent = keep the cluster's version (image rotation). */
  version?: string;
  imageId?: string;
  force: boolean;
  /** A patch downgrade is refused unless asked for (--allow-patch-downgrade). */
  allowPatchDowngrade?: boolean;
  /** How each swap proceeds (EngineOptions.maxSurge); plan reports what that run would do. Default 1. */
  maxSurge?: 0 | 1;
  /** kubeswap renders each replacement's kubeadm join (render mode). */
  render?: boolean;
  /** The readiness report's choices (--accept-removed-apis, --cert-warning-days); defaults: block, 30 days. */
  readiness?: ReadinessRequest;
  /** The operator chose to run without an API load balancer (--no-load-balancer). */
  withoutLoadBalancer?: boolean;
  /** A saved plan's fingerprint: the run is refused when the cluster no longer matches it. */
  expect?: ClusterFingerprint;
}

export interface Preflight {
  problems: Problem[];
  desired?: Desired;
  from: string;
}

export async function preflight(
  ports: Pick<Ports, 'provider'>,
  cluster: ClusterConfigView,
  nodes: NodeView[],
  request: UpgradeRequest,
): Promise<Preflight> {
  const problems: Problem[] = [];
  const from = cluster.kubernetesVersion;
  const version = request.version ?? from;
  const controlPlane = nodes.filter((n) => n.controlPlane);
  if (controlPlane.length === 0) {
    problems.push({
      code: 'cluster.no-control-plane',
      message: 'no Node carries the node-role.kubernetes.io/control-plane label',
      hint: 'kubeswap replaces kubeadm control-plane machines; check --kubeconfig/--context',
    });
  }
  problems.push(
    ...validateUpgrade({
      from,
      to: version,
      kubelets: nodes.map((n) => ({ node: n.name, version: n.kubeletVersion, controlPlane: n.controlPlane })),
      imageChange: request.imageId !== undefined || request.force,
      allowPatchDowngrade: request.allowPatchDowngrade,
    }),
  );
  problems.push(...kubeadmApiProblems(cluster, version));
  for (const node of controlPlane) {
    if (!node.providerId) {
      problems.push({
        code: 'node.no-provider-id',
        message: `control-plane node ${node.name} has no spec.providerID, so its machine cannot be found`,
      });
    }
  }
  const providerIds = controlPlane.flatMap((n) => (n.providerId ? [n.providerId] : []));
  const machines = await ports.provider.listMachines(CONTROL_PLANE_POOL, providerIds);
  // By providerID, or by the Node a machine without one names (Cluster API status.nodeRef).
  const linked = machines.filter((m) => controlPlane.some((n) => linksTo(m, n)));
  for (const node of controlPlane) {
    // A Node kubeswap retires may outlive its Machine (Cluster API deletes a Machine without its Node past the
    // Machine's nodeDeletionTimeout): the resumed run deletes it. Only for a provider that deletes machines itself: for
    // the others a machine missing from the listing (a wrong region or tag filter) may still run, and retiring its Node
    // would remove the member of a live VM whose apiserver stays behind the load balancer.
    const leftByProvider = ports.provider.capabilities.drainsOnDelete === true && isRetiring(node);
    if (node.providerId && !leftByProvider && !linked.some((m) => linksTo(m, node))) {
      problems.push({
        code: 'machine.not-found',
        message: `control-plane node ${node.name} (providerID ${node.providerId}) has no machine in the provider`,
        hint: 'check the provider settings (region, endpoint) and the Node providerID',
      });
    }
  }
  problems.push(...ports.provider.checkMachines(linked), ...capabilityProblems(ports.provider, request));
  const resolved = await ports.provider.resolveDesired({ version, imageId: request.imageId });
  problems.push(...resolved.problems);
  const desired = resolved.desired ? { ...resolved.desired, force: request.force } : undefined;
  return { problems, desired, from };
}

/** The target's kubeadm must read kubeadm-config, as it is or once kubeswap converts it (prepare.ts). */
function kubeadmApiProblems(cluster: ClusterConfigView, version: string): Problem[] {
  const target = parseTargetVersion(version);
  const stored = cluster.apiVersion as KubeadmApiVersion;
  if (!target || apiVersionNeed(stored, target).kind !== 'unsupported') return [];
  return [
    {
      code: 'kubeadm.api-version-unreadable',
      message: `kubeadm ${target.text} cannot read kubeadm-config's ClusterConfiguration ${stored}, and kubeswap converts only kubeadm.k8s.io/v1beta3 -> v1beta4`,
      hint: 'convert it with `kubeadm config migrate` of a kubeadm that reads both, and store the result in kube-system/kubeadm-config',
    },
  ];
}

/** What the run asks of the provider that its declared capabilities (contract v2) rule out. */
function capabilityProblems(provider: Ports['provider'], request: UpgradeRequest): Problem[] {
  const problems: Problem[] = [];
  if (request.maxSurge === 0 && provider.capabilities.drainsOnDelete) {
    // Remove-first would delete the old machine (and, with it, what its replacement is cloned from) before the
    // replacement exists: the provider's system (Cluster API) deletes the machine's infrastructure and bootstrap
    // objects with it.
    problems.push({
      code: 'provider.no-remove-first',
      message: `provider ${provider.name} cannot replace remove-first (--max-surge 0): its machines are cloned from the machine being replaced`,
      hint: 'run with --max-surge 1 (the default)',
    });
  }
  if ((request.maxSurge ?? 1) === 1 && !provider.capabilities.surge) {
    problems.push({
      code: 'provider.cannot-surge',
      message: `provider ${provider.name} cannot run a machine beyond the pool's size`,
      hint: 'use --max-surge 0 (remove first; needs >= 3 etcd members)',
    });
  }
  if (request.render && provider.capabilities.rendersBootstrap) {
    problems.push({
      code: 'provider.renders-bootstrap',
      message: `provider ${provider.name} renders each machine's bootstrap data itself`,
      hint: 'leave userData at launch-template (drop --user-data render)',
    });
  }
  if (request.render && provider.capabilities.acceptsUserData === false) {
    problems.push({
      code: 'provider.no-user-data',
      message: `provider ${provider.name} launches machines from its own template: user data kubeswap renders (--user-data render) cannot reach them`,
      hint: 'keep --user-data launch-template; the launch template (version) the machines launch from must bootstrap the join',
    });
  }
  // Terminating a control-plane machine that still receives API traffic breaks clients; never skip that silently.
  const lb = provider.loadBalancer !== undefined || provider.capabilities.ownsLoadBalancer;
  if (!lb && !request.withoutLoadBalancer) {
    problems.push({
      code: 'input.no-load-balancer',
      message: `no API load balancer is configured for provider ${provider.name}: old machines would be removed without being taken out of the API endpoint`,
      hint:
        provider.name === 'aws-ec2'
          ? 'give --target-group-arn (the kube-apiserver target group), or --no-load-balancer when nothing balances the API'
          : 'configure the provider load balancer, or give --no-load-balancer when nothing balances the API',
    });
  }
  if (provider.loadBalancer && request.withoutLoadBalancer) {
    problems.push({
      code: 'input.no-load-balancer',
      message: '--no-load-balancer was given but a load balancer is configured',
      hint: 'drop --no-load-balancer, or the load-balancer setting (e.g. --target-group-arn)',
    });
  }
  return problems;
}
