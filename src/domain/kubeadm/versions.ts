// Kubernetes versions and the version-skew policy (kubernetes.io "Version Skew Policy"; notes §1).
// Validation collects every problem, so one refusal lists them all.
import semver from 'semver';
import type { Problem } from '../errors.ts';

export interface KubeVersion {
  major: number;
  minor: number;
  patch: number;
  /** Canonical `vX.Y.Z` (prerelease kept only for a requested target). */
  text: string;
}

/**
 * Lenient parse for versions the cluster reports. Managed distributions append a suffix
 * (`v1.31.2-eks-1234abc`) that semver reads as a prerelease, which would sort BEFORE v1.31.2, so coerce.
 */
export function parseKubeVersion(version: string): Readonly<KubeVersion> | undefined {
  // A cluster of 5,000 Nodes reports a handful of distinct kubelet versions: each is parsed once (issue 15 §3).
  if (parsed.has(version)) return parsed.get(version);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  const result = parseOnce(version);
  parsed.set(version, result);
  return result;
}

const PARSED_MAX = 256;
const parsed = new Map<string, Readonly<KubeVersion> | undefined>();

function parseOnce(version: string): Readonly<KubeVersion> | undefined {
  if (!/^\s*v?\d+\.\d+/.test(version)) return undefined;
  const coerced = semver.coerce(version);
  if (!coerced) return undefined;
  return Object.freeze({
    major: coerced.major,
    minor: coerced.minor,
    patch: coerced.patch,
    text: `v${coerced.version}`,
  });
}

/** Strict parse for a requested target: `vX.Y.Z` or `X.Y.Z`, optionally with a prerelease (`v1.38.0-rc.1`). */
export function parseTargetVersion(version: string): KubeVersion | undefined {
  const parsed = semver.parse(version.trim());
  if (!parsed || parsed.build.length > 0) return undefined;
  return { major: parsed.major, minor: parsed.minor, patch: parsed.patch, text: `v${parsed.version}` };
}

/** `v1.31.2-eks-1234abc` -> `v1.31.2`; what cannot be read comes back trimmed, so it never equals a real version. */
export function normalizeVersion(version: string): string {
  return parseKubeVersion(version)?.text ?? version.trim();
}

/** `v1.37.2` -> `1.37`, the form kubeadm uses in versioned object names (kubelet-config-1.23). */
export function minorOf(version: string): string {
  const parsed = parseKubeVersion(version);
  return parsed ? `${parsed.major}.${parsed.minor}` : version;
}

export function compareVersions(a: KubeVersion, b: KubeVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * How many minors a kubelet may trail the control plane: 3, but 2 for kubelets older than 1.25
 * (the policy widened to n-3 in 1.28 and applies to kubelets from 1.25 on).
 */
export function kubeletMaxSkew(kubelet: KubeVersion): number {
  return kubelet.major === 1 && kubelet.minor < 25 ? 2 : 3;
}

export type UpgradeKind =
  | 'same'
  | 'patch-upgrade'
  | 'minor-upgrade'
  | 'patch-downgrade'
  | 'minor-downgrade'
  | 'skips-minor'
  | 'major-change';

export function upgradeKind(from: KubeVersion, to: KubeVersion): UpgradeKind {
  if (from.major !== to.major) return 'major-change';
  if (to.minor > from.minor + 1) return 'skips-minor';
  if (to.minor === from.minor + 1) return 'minor-upgrade';
  if (to.minor < from.minor) return 'minor-downgrade';
  if (to.patch > from.patch) return 'patch-upgrade';
  if (to.patch < from.patch) return 'patch-downgrade';
  return 'same';
}

export interface KubeletVersionReport {
  node: string;
  version: string;
  /** Control-plane nodes are replaced by the run; their versions also bound where the upgrade starts. */
  controlPlane?: boolean;
}

export interface UpgradeCheckInput {
  /** kubeadm-config's kubernetesVersion. */
  from: string;
  /** The requested target. */
  to: string;
  kubelets: readonly KubeletVersionReport[];
  /** A new image (or --force) makes an at-target run still replace machines. */
  imageChange?: boolean;
  /** A patch downgrade is refused unless asked for explicitly. */
  allowPatchDowngrade?: boolean;
}

export interface UpgradeAssessment {
  kind?: UpgradeKind;
  /** kubeadm-config and every control-plane kubelet already run the target. */
  atTarget: boolean;
  /** At target and no image change: the run has nothing to replace for the version. */
  nothingToDo: boolean;
  problems: Problem[];
}

const NAMES_SHOWN = 10;
function nodeList(nodes: readonly string[]): string {
  const shown = nodes.slice(0, NAMES_SHOWN).join(', ');
  return nodes.length > NAMES_SHOWN ? `${shown} and ${nodes.length - NAMES_SHOWN} more` : shown;
}

export function assessUpgrade(input: UpgradeCheckInput): UpgradeAssessment {
  const problems: Problem[] = [];
  const to = parseTargetVersion(input.to);
  const from = parseKubeVersion(input.from);
  if (!to) {
    problems.push({
      code: 'version.invalid',
      message: `target version "${input.to}" is not a Kubernetes version`,
      hint: 'use vX.Y.Z, e.g. v1.37.2',
    });
  }
  if (!from) {
    problems.push({
      code: 'version.cluster-unreadable',
      message: `kubeadm-config kubernetesVersion "${input.from}" cannot be read as a version`,
      hint: 'fix kubernetesVersion in kube-system/kubeadm-config (ClusterConfiguration)',
    });
  }
  const unreadable = input.kubelets.filter((k) => !parseKubeVersion(k.version)).map((k) => k.node);
  if (unreadable.length > 0) {
    problems.push({
      code: 'kubelet.version-unreadable',
      message: `kubelet version unreadable on ${nodeList(unreadable)}`,
    });
  }
  if (!to || !from) return { atTarget: false, nothingToDo: false, problems };

  const kind = upgradeKind(from, to);
  problems.push(...kindProblems(kind, from, to, input.allowPatchDowngrade === true));
  problems.push(...skewProblems(input.kubelets, to));

  const controlPlane = input.kubelets.filter((k) => k.controlPlane);
  const atTarget = kind === 'same' && controlPlane.every((k) => normalizeVersion(k.version) === to.text);
  return { kind, atTarget, nothingToDo: atTarget && input.imageChange !== true, problems };
}

/** The problems of assessUpgrade(): empty when the upgrade may run. */
export function validateUpgrade(input: UpgradeCheckInput): Problem[] {
  return assessUpgrade(input).problems;
}

function kindProblems(kind: UpgradeKind, from: KubeVersion, to: KubeVersion, allowPatchDowngrade: boolean): Problem[] {
  switch (kind) {
    case 'major-change':
      return [
        { code: 'version.major-change', message: `cannot change the major version from ${from.text} to ${to.text}` },
      ];
    case 'skips-minor':
      return [
        {
          code: 'version.skips-minor',
          message: `${from.text} -> ${to.text} skips a minor version; kubeadm upgrades one minor at a time`,
          hint: `upgrade to v${from.major}.${from.minor + 1}.x first`,
        },
      ];
    case 'minor-downgrade':
      return [
        {
          code: 'version.minor-downgrade',
          message: `${from.text} -> ${to.text} is a minor downgrade, which Kubernetes does not support`,
        },
      ];
    case 'patch-downgrade':
      return allowPatchDowngrade
        ? []
        : [
            {
              code: 'version.patch-downgrade',
              message: `${from.text} -> ${to.text} is a patch downgrade`,
              hint: 'a patch downgrade must be asked for: pass --allow-patch-downgrade',
            },
          ];
    default:
      return [];
  }
}

/**
 * Every kubelet must be within skew of the target before the control plane moves (it never gets newer
 * than the apiserver, and trails by at most kubeletMaxSkew minors). Control-plane kubelets must also
 * not trail the target by more than one minor: their machines are the "from" side of this upgrade.
 */
function skewProblems(kubelets: readonly KubeletVersionReport[], to: KubeVersion): Problem[] {
  const tooOld: string[] = [];
  const newer: string[] = [];
  const controlPlaneBehind: string[] = [];
  for (const kubelet of kubelets) {
    const v = parseKubeVersion(kubelet.version);
    if (!v) continue;
    const label = `${kubelet.node} (${v.text})`;
    if (v.major !== to.major || to.minor - v.minor > kubeletMaxSkew(v)) tooOld.push(label);
    else if (v.minor > to.minor) newer.push(label);
    if (kubelet.controlPlane && v.major === to.major && to.minor - v.minor > 1) controlPlaneBehind.push(label);
  }
  const problems: Problem[] = [];
  if (tooOld.length > 0) {
    problems.push({
      code: 'kubelet.too-old',
      message: `kubelets too old for ${to.text}: ${nodeList(tooOld)}`,
      hint: `upgrade or replace these nodes first; a kubelet may trail the control plane by 3 minors (2 below v1.25)`,
    });
  }
  if (newer.length > 0) {
    problems.push({
      code: 'kubelet.newer-than-target',
      message: `kubelets newer than ${to.text}: ${nodeList(newer)}`,
      hint: 'a kubelet must never be newer than the apiserver',
    });
  }
  if (controlPlaneBehind.length > 0) {
    problems.push({
      code: 'version.control-plane-skips-minor',
      message: `control-plane nodes more than one minor behind ${to.text}: ${nodeList(controlPlaneBehind)}`,
      hint: 'finish the previous upgrade first',
    });
  }
  return problems;
}
