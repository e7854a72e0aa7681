// Versions now -> target for every component, each with the version-skew rule it is judged by
// (kubernetes.io "Version Skew Policy"; notes/kubernetes.md §1). kubeswap replaces control-plane machines: their
// components move to the target with the machine; kubelets elsewhere and the add-ons stay as they are.
import {
  kubeletMaxSkew,
  normalizeVersion,
  parseKubeVersion,
  parseTargetVersion,
  upgradeKind,
} from '../../../domain/kubeadm/versions.ts';
import type { NodeView } from '../../../domain/model.ts';
import type { ComponentVersion, Severity } from '../../../domain/readiness/report.ts';
import type { AddonVersion, StaticPodVersion } from '../../../ports/readiness.ts';

/**
 * What kubeadm of a release deploys (cmd/kubeadm/app/constants/constants.go `CoreDNSVersion`, `DefaultEtcdVersion`
 * at v1.36.3 and v1.37.2): shown as the version a replacement's image is expected to bring, not enforced.
 */
export const KUBEADM_DEFAULTS: Record<string, { coredns: string; etcd: string }> = {
  '1.36': { coredns: 'v1.14.2', etcd: '3.6.8' },
  '1.37': { coredns: 'v1.14.6', etcd: '3.7.0' },
};

export const RULES = {
  apiserver:
    'control plane moves one minor at a time, never a minor down; old and new apiservers differ by at most 1 minor during the swap',
  controller:
    'not newer than any apiserver, at most 1 minor older (the old one runs against new apiservers until its machine is replaced)',
  kubelet: 'never newer than the apiserver; at most 3 minors older (2 below v1.25)',
  kubeProxy:
    'as the kubelet: never newer than the apiserver, at most 3 minors older; kubeswap leaves the DaemonSet as it is',
  coredns:
    'not bound by the skew policy; kubeswap leaves it as it is (kubeadm of the target would deploy the version shown)',
  etcd: 'stacked etcd comes with the machine image; the version shown is what kubeadm of the target deploys',
} as const;

export interface VersionFacts {
  target: string;
  nodes: NodeView[];
  /** Node names this run replaces. */
  replaced: string[];
  apiservers: { node: string; version?: string; error?: string }[];
  staticPods: StaticPodVersion[];
  addons: AddonVersion[];
  etcd: { member: string; version?: string }[];
}

export function componentVersions(facts: VersionFacts): ComponentVersion[] {
  const to = parseTargetVersion(facts.target);
  if (!to) return [];
  const minor = `${to.major}.${to.minor}`;
  const rows: ComponentVersion[] = [];
  const moved = (node: string) => facts.replaced.includes(node);

  for (const a of facts.apiservers) {
    const now = a.version ? normalizeVersion(a.version) : `unknown (${a.error ?? 'no answer'})`;
    rows.push({
      component: 'kube-apiserver',
      where: a.node,
      now,
      target: moved(a.node) ? to.text : now,
      severity: a.version ? controlPlaneSeverity(a.version, facts.target) : 'skipped',
      rule: RULES.apiserver,
    });
  }
  for (const pod of facts.staticPods.filter(
    (p) => p.component === 'kube-controller-manager' || p.component === 'kube-scheduler',
  )) {
    const v = parseKubeVersion(pod.version);
    const behind = v ? to.minor - v.minor : Number.NaN;
    rows.push({
      component: pod.component,
      where: pod.node,
      now: normalizeVersion(pod.version),
      target: moved(pod.node) ? to.text : normalizeVersion(pod.version),
      severity: v && v.major === to.major && (behind === 0 || behind === 1) ? 'ok' : 'block',
      rule: RULES.controller,
    });
  }
  rows.push(...kubeletRows(facts, to.text));
  for (const addon of facts.addons) {
    const isProxy = addon.component === 'kube-proxy';
    rows.push({
      component: addon.component,
      where: addon.object,
      now: addon.version,
      target: isProxy
        ? addon.version
        : `${addon.version} (kubeadm ${minor}: ${KUBEADM_DEFAULTS[minor]?.coredns ?? '?'})`,
      severity: isProxy ? kubeletSeverity(addon.version, facts.target) : 'ok',
      rule: isProxy ? RULES.kubeProxy : RULES.coredns,
    });
  }
  for (const m of facts.etcd) {
    rows.push({
      component: 'etcd',
      where: m.member,
      now: m.version ?? 'unknown',
      target: moved(m.member)
        ? `from the image (kubeadm ${minor}: ${KUBEADM_DEFAULTS[minor]?.etcd ?? '?'})`
        : (m.version ?? 'unknown'),
      severity: m.version ? 'ok' : 'skipped',
      rule: RULES.etcd,
    });
  }
  return rows;
}

/**
 * One row per control-plane Node, per Node replaced and per Node whose kubelet blocks or warns: every Node that
 * matters is named. The other Nodes (a cluster's workers, fine and left as they are) share one row per kubelet
 * version, with their number: 5,000 Nodes are a few rows, not 5,000 (issue 15 §3).
 */
function kubeletRows(facts: VersionFacts, target: string): ComponentVersion[] {
  const replaced = new Set(facts.replaced);
  const named: ComponentVersion[] = [];
  const fine = new Map<string, { row: ComponentVersion; first: string }>();
  // Judged once per kubelet version, not once per Node: 5,000 Nodes run a few versions.
  const judged = new Map<string, { now: string; severity: Severity }>();
  const judge = (version: string) => {
    const known = judged.get(version);
    if (known) return known;
    const j = { now: normalizeVersion(version), severity: kubeletSeverity(version, facts.target) };
    judged.set(version, j);
    return j;
  };
  for (const node of facts.nodes) {
    const moved = replaced.has(node.name);
    const { now, severity: own } = judge(node.kubeletVersion);
    const severity = moved ? 'ok' : own;
    if (node.controlPlane || moved || severity !== 'ok') {
      named.push({
        component: 'kubelet',
        where: node.controlPlane ? `${node.name} (control plane)` : node.name,
        now,
        target: moved ? target : now,
        severity,
        rule: RULES.kubelet,
      });
      continue;
    }
    const group = fine.get(now);
    if (group) group.row.nodes = (group.row.nodes ?? 1) + 1;
    else
      fine.set(now, {
        first: node.name,
        row: { component: 'kubelet', where: '', now, target: now, severity, rule: RULES.kubelet },
      });
  }
  const grouped = [...fine.values()].map(({ row, first }) => ({
    ...row,
    where: row.nodes === undefined ? first : `${row.nodes} Nodes`,
  }));
  return [...named, ...grouped];
}

function controlPlaneSeverity(now: string, target: string): Severity {
  const from = parseKubeVersion(now);
  const to = parseTargetVersion(target);
  if (!from || !to) return 'block';
  const kind = upgradeKind(from, to);
  if (kind === 'same' || kind === 'patch-upgrade' || kind === 'minor-upgrade') return 'ok';
  return kind === 'patch-downgrade' ? 'warn' : 'block';
}

function kubeletSeverity(version: string, target: string): Severity {
  const v = parseKubeVersion(version);
  const to = parseTargetVersion(target);
  if (!v || !to) return 'block';
  if (v.major !== to.major || v.minor > to.minor) return 'block';
  return to.minor - v.minor > kubeletMaxSkew(v) ? 'block' : 'ok';
}
