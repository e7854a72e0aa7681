// What the addon phase after the control plane does, as a pure function of what was observed: kubeadm's
// `upgrade apply` addon phase for the target (phases/addons/dns and proxy), which since kubeadm 1.28 runs
// only once every API server runs the target. kubeadm puts no kubeadm-specific label on these objects: it
// finds CoreDNS by `k8s-app=kube-dns` (DeployedDNSAddon) and writes kube-proxy with `k8s-app: kube-proxy`.

import { coreDnsVersionFor } from '../../domain/addons/coredns-versions.ts';
import { type CorefileNotice, checkCorefile, describeNotice } from '../../domain/addons/corefile.ts';
import { type AddonImageConfig, coreDnsImage, kubeProxyImage, splitImage } from '../../domain/addons/images.ts';
import { KUBE_PROXY_CONFIG_API_VERSION } from '../../domain/addons/kube-proxy.ts';
import type { WorkloadView } from '../../ports/kube.ts';

export type AddonName = 'kube-proxy' | 'coredns';

export interface AddonObservation {
  config: AddonImageConfig;
  /** The Kubernetes port has no workload support (a port of another tool, a test fake): the addons are skipped. */
  unsupported?: string;
  /** Why reading the workloads failed (e.g. RBAC refused it): the addons are blocked, never silently skipped. */
  unreadable?: string;
  kubeProxy?: WorkloadView;
  /** apiVersion of the KubeProxyConfiguration in ConfigMap kube-proxy (key config.conf); undefined when absent. */
  kubeProxyConfigApiVersion?: string;
  coreDns?: WorkloadView;
  /** Corefile of ConfigMap coredns; undefined when the ConfigMap or the key is missing. */
  corefile?: string;
}

export interface AddonDecision {
  addon: AddonName;
  /** update: set the image and wait; wait: the image is set, the rollout is not finished; blocked: needs a person. */
  action: 'update' | 'wait' | 'current' | 'skip' | 'blocked';
  reason: string;
  kind: WorkloadView['kind'];
  name: string;
  container: string;
  from?: string;
  to?: string;
  /** Notes that change nothing (a kept ConfigMap, deprecated Corefile options). */
  notes: string[];
  hint?: string;
}

export const ADDON_NAMESPACE = 'kube-system';
const MANAGED_ELSEWHERE = ['app.kubernetes.io/managed-by', 'addonmanager.kubernetes.io/mode'];

/** kubectl rollout status: every pod at the current template and available, none of an older one left. */
export function rolledOut(w: WorkloadView): boolean {
  return (
    w.observedGeneration >= w.generation && w.updated >= w.desired && w.available >= w.desired && w.total <= w.desired
  );
}

/** Why a workload is not the one kubeadm wrote, or undefined when it is. */
function notKubeadms(w: WorkloadView, app: string, container: string): string | undefined {
  if (w.labels['k8s-app'] !== app) return `it has no label k8s-app=${app}, which kubeadm puts on it`;
  const managed = MANAGED_ELSEWHERE.find((l) => w.labels[l] !== undefined);
  if (managed) return `it is managed by ${w.labels[managed]} (label ${managed})`;
  if (w.annotations['meta.helm.sh/release-name'])
    return `it belongs to Helm release ${w.annotations['meta.helm.sh/release-name']}`;
  if (!w.containers.some((c) => c.name === container)) return `it has no container named ${container}`;
  return undefined;
}

function imageStep(
  w: WorkloadView,
  container: string,
  to: string,
  base: Omit<AddonDecision, 'action' | 'reason'>,
): AddonDecision {
  const from = w.containers.find((c) => c.name === container)!.image;
  if (from !== to) return { ...base, action: 'update', reason: `image ${from} -> ${to}`, from, to };
  if (!rolledOut(w)) return { ...base, action: 'wait', reason: `image ${to} set, rollout in progress`, from, to };
  return { ...base, action: 'current', reason: `already at ${to}`, from, to };
}

export function planKubeProxy(o: AddonObservation, version: string, skip: boolean): AddonDecision {
  const base = {
    addon: 'kube-proxy' as const,
    kind: 'DaemonSet' as const,
    name: 'kube-proxy',
    container: 'kube-proxy',
    notes: [],
  };
  if (skip) return { ...base, action: 'skip', reason: '--skip-addons' };
  if (o.unsupported) return { ...base, action: 'skip', reason: o.unsupported };
  if (o.unreadable) return unreadable(base, o.unreadable);
  if (o.config.proxy.disabled) return { ...base, action: 'skip', reason: 'proxy.disabled is set in kubeadm-config' };
  const w = o.kubeProxy;
  if (!w)
    return {
      ...base,
      action: 'skip',
      reason: 'no DaemonSet kube-system/kube-proxy (kube-proxy replaced, e.g. by the CNI)',
    };
  const other = notKubeadms(w, 'kube-proxy', 'kube-proxy');
  if (other) return { ...base, action: 'skip', reason: `DaemonSet kube-proxy is not kubeadm's: ${other}` };
  const api = o.kubeProxyConfigApiVersion;
  if (api !== undefined && api !== KUBE_PROXY_CONFIG_API_VERSION) {
    return {
      ...base,
      action: 'blocked',
      reason: `ConfigMap kube-proxy holds a KubeProxyConfiguration ${api}; kubeadm ${version} writes ${KUBE_PROXY_CONFIG_API_VERSION}, which kubeswap does not convert`,
      hint: `convert the config.conf of ConfigMap kube-system/kube-proxy to ${KUBE_PROXY_CONFIG_API_VERSION} (or run \`kubeadm upgrade apply phase addon kube-proxy\`), then re-run`,
    };
  }
  const step = imageStep(w, 'kube-proxy', kubeProxyImage(o.config, version), base);
  // kubeadm re-renders the ConfigMap from the stored component config; its API version is unchanged, so the
  // user's ConfigMap is kept as it is.
  if (step.action === 'update')
    step.notes.push(
      `ConfigMap kube-proxy kept: its KubeProxyConfiguration ${api ?? '(none)'} is what kubeadm ${version} writes`,
    );
  return step;
}

export function planCoreDns(o: AddonObservation, version: string, skip: boolean): AddonDecision {
  const base = {
    addon: 'coredns' as const,
    kind: 'Deployment' as const,
    name: 'coredns',
    container: 'coredns',
    notes: [],
  };
  if (skip) return { ...base, action: 'skip', reason: '--skip-addons' };
  if (o.unsupported) return { ...base, action: 'skip', reason: o.unsupported };
  if (o.unreadable) return unreadable(base, o.unreadable);
  if (o.config.dns.disabled) return { ...base, action: 'skip', reason: 'dns.disabled is set in kubeadm-config' };
  const w = o.coreDns;
  if (!w) return { ...base, action: 'skip', reason: 'no Deployment kube-system/coredns' };
  const other = notKubeadms(w, 'kube-dns', 'coredns');
  if (other) return { ...base, action: 'skip', reason: `Deployment coredns is not kubeadm's: ${other}` };
  const target = coreDnsVersionFor(version);
  if (!target)
    return { ...base, action: 'skip', reason: `kubeswap does not know which CoreDNS kubeadm ${version} deploys` };
  const step = imageStep(w, 'coredns', coreDnsImage(o.config, target), base);
  if (step.action !== 'update') return step;
  const fromTag = splitImage(step.from!).tag ?? '';
  const toTag = splitImage(step.to!).tag ?? '';
  // dns.imageTag pins the version: the user chose it, as kubeadm's GetDNSImage honours it.
  if (o.config.dns.imageTag || fromTag === toTag) return step;
  if (o.corefile === undefined) {
    return {
      ...step,
      action: 'blocked',
      reason: 'ConfigMap kube-system/coredns has no Corefile, so its migration cannot be checked',
      hint: 'restore the Corefile key of ConfigMap kube-system/coredns, then re-run; or pass --skip-addons',
    };
  }
  const check = checkCorefile(fromTag, toTag, o.corefile);
  // Notices that refuse are the reason; the others (deprecated, ignored) change nothing and are notes.
  const refusing = (n: CorefileNotice) => n.severity === 'unsupported' || n.severity === 'removed';
  step.notes.push(...check.notices.filter((n) => !refusing(n)).map(describeNotice));
  if (check.migratable) {
    step.notes.push(`Corefile kept: no rule of corefile-migration changes it from CoreDNS ${fromTag} to ${toTag}`);
    return step;
  }
  return {
    ...step,
    action: 'blocked',
    reason: `the Corefile cannot be carried from CoreDNS ${fromTag} to ${toTag}: ${check.reason}`,
    hint: `CoreDNS stays at ${step.from}. Edit the Corefile (kubectl -n kube-system edit configmap coredns) to drop or replace what is named, or upgrade CoreDNS yourself; then re-run kubeswap apply with the same --to to finish (or pass --skip-addons to leave CoreDNS as it is)`,
  };
}

/** CoreDNS first, then kube-proxy: the order of kubeadm's addon phase. */
export function planAddons(o: AddonObservation, version: string, skip = false): AddonDecision[] {
  return [planCoreDns(o, version, skip), planKubeProxy(o, version, skip)];
}

/** Something to change or wait for. */
export const addonsPending = (plan: readonly AddonDecision[]): boolean =>
  plan.some((d) => d.action === 'update' || d.action === 'wait' || d.action === 'blocked');

/**
 * kube-proxy and CoreDNS could not be read (e.g. RBAC refused): never a silent skip that reports the cluster as
 * upgraded while its addons stay behind. The run stops after the control plane, exit 4, saying how to go on.
 */
function unreadable<T extends object>(base: T, reason: string) {
  return {
    ...base,
    action: 'blocked' as const,
    reason,
    hint: 'grant get and patch on DaemonSet kube-system/kube-proxy and Deployment kube-system/coredns (templates/rbac/kubeswap.yaml), then re-run; or pass --skip-addons',
  };
}
