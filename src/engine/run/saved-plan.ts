// A saved plan (`kubeswap plan --out FILE`, `kubeswap apply FILE`): what was reviewed is what runs, as with
// `terraform plan -out` / `terraform apply PLANFILE`. The plan keeps the exact image and launch template version
// resolved, plus a fingerprint of what it observed; apply refuses (exit 2) when the cluster moved on since.
// Pure functions: the CLI reads and writes the file.
import type { Problem } from '../../domain/errors.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { Desired } from '../../domain/model.ts';
import type { DurationEstimate } from '../../domain/run-timeline.ts';

export const PLAN_FORMAT = 'kubeswap.io/saved-plan';
/** Bumped on any change a reader of an older format would misread; apply refuses another version. */
export const PLAN_FORMAT_VERSION = 1;

/** What the plan observed and resolved; any difference at apply time means the reviewed plan is not what would run. */
export interface ClusterFingerprint {
  /** sha256 of kube-system/kubeadm-config's ClusterConfiguration. */
  kubeadmConfig: string;
  /** `node=machine` for every control-plane Node, then `+machine` for machines kubeswap created, sorted. */
  machines: string[];
  /** The image the target resolved to (the newest tagged for the version, the images setting, or --image). */
  imageId: string;
  /** The launch template (`id:version`) the target resolved to, when the provider has one. */
  template?: string;
  /**
   * `pool:node=machine` for every worker Node of a pool, then `pool:+machine` for the pool's machines no Node points
   * at (a replacement still joining), sorted. Absent in plans saved before pools were fingerprinted: read as none.
   */
  workers?: string[];
}

/** The worker half of the fingerprint: what each pool's Nodes run on, and the machines not (yet) behind a Node. */
export function workerFingerprint(
  nodes: readonly { name: string; providerId?: string; controlPlane: boolean }[],
  workerMachines: readonly { id: string; providerId: string; pool: string }[],
): string[] {
  const linked = new Set<string>();
  const entries: string[] = [];
  // By providerId, first listed first (as a find would): a lookup per Node, not a scan of every machine (5,000 Nodes
  // and as many machines would be 25 million comparisons).
  const byProviderId = new Map<string, (typeof workerMachines)[number]>();
  for (const w of workerMachines) if (!byProviderId.has(w.providerId)) byProviderId.set(w.providerId, w);
  for (const node of nodes) {
    if (node.controlPlane || !node.providerId) continue;
    const m = byProviderId.get(node.providerId);
    if (!m) continue;
    linked.add(m.id);
    entries.push(`${m.pool}:${node.name}=${m.id}`);
  }
  for (const m of workerMachines) if (!linked.has(m.id)) entries.push(`${m.pool}:+${m.id}`);
  return entries.sort();
}

/** The cluster-wide changes of a run, besides the machines (kubeadm upgrade plan lists them too). */
export interface ClusterChanges {
  /** kube-system/kubeadm-config kubernetesVersion bump, when the version changes. */
  kubeadmConfig?: { from: string; to: string };
  /** Objects the run creates when missing (kubelet config of the new minor, RBAC for joins). */
  objects: string[];
  /** How the API load balancer is handled, in words. */
  loadBalancer: string;
  machines: number;
  maxSurge: 0 | 1;
  /** From this cluster's last measured run (kept in kube-system/kubeswap-runs); `totalMs` absent when unknown. */
  estimate?: DurationEstimate;
}

export interface SavedPlan {
  format: typeof PLAN_FORMAT;
  formatVersion: typeof PLAN_FORMAT_VERSION;
  createdAt: string;
  kubeswapVersion: string;
  from: string;
  desired: Desired;
  machines: { node: string; machine?: string; reasons: string[] }[];
  upToDate: string[];
  changes: ClusterChanges;
  /** The settings the plan was made with (no secrets, no local paths), re-applied by `apply FILE`. */
  settings: Record<string, unknown>;
  fingerprint: ClusterFingerprint;
}

/** Reads a saved plan, refusing (exit 2) another format or version rather than guessing. */
export function parseSavedPlan(text: string, file: string): SavedPlan {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw planFileError(`${file} is not a saved plan (not JSON: ${(err as Error).message})`);
  }
  const plan = doc as Partial<SavedPlan> | null;
  if (!plan || typeof plan !== 'object' || plan.format !== PLAN_FORMAT) {
    throw planFileError(`${file} is not a kubeswap saved plan (format ${JSON.stringify(plan?.format)})`);
  }
  if (plan.formatVersion !== PLAN_FORMAT_VERSION) {
    throw planFileError(
      `${file} is a saved plan of format version ${String(plan.formatVersion)}; this kubeswap reads version ${PLAN_FORMAT_VERSION}`,
    );
  }
  const f = plan.fingerprint;
  if (!plan.desired?.imageId || !plan.desired.version || !f?.kubeadmConfig || !Array.isArray(f.machines)) {
    throw planFileError(`${file} is an incomplete saved plan (desired or fingerprint missing)`);
  }
  return plan as SavedPlan;
}

function planFileError(message: string): KubeswapError {
  return new KubeswapError('invalid', 'plan-file.invalid', message, {
    hint: 'make a new one with kubeswap plan --out FILE',
  });
}

/** Every way the cluster (or what the target resolves to) moved on since the plan, each named. */
export function staleProblems(saved: ClusterFingerprint, now: ClusterFingerprint): Problem[] {
  const problems: Problem[] = [];
  const hint = 'review a new plan: kubeswap plan --out FILE';
  if (saved.imageId !== now.imageId) {
    problems.push({
      code: 'plan.stale.image',
      message: `the target now resolves to image ${now.imageId}, the plan to ${saved.imageId} (another image tagged for the version, or the images setting changed)`,
      hint,
    });
  }
  if ((saved.template ?? '') !== (now.template ?? '')) {
    problems.push({
      code: 'plan.stale.template',
      message: `the launch template now resolves to ${now.template ?? 'none'}, the plan to ${saved.template ?? 'none'}`,
      hint,
    });
  }
  const gone = saved.machines.filter((m) => !now.machines.includes(m));
  const added = now.machines.filter((m) => !saved.machines.includes(m));
  if (gone.length > 0 || added.length > 0) {
    const part = (label: string, list: string[]) => (list.length ? `${label} ${list.join(', ')}` : '');
    problems.push({
      code: 'plan.stale.machines',
      message: `the control-plane machines changed since the plan: ${[part('gone', gone), part('new', added)].filter(Boolean).join('; ')}`,
      hint: `${hint}. If a run of this plan was interrupted, resume it with kubeswap apply --to <version> --image <image> (the plan's)`,
    });
  }
  const workersGone = (saved.workers ?? []).filter((m) => !(now.workers ?? []).includes(m));
  const workersAdded = (now.workers ?? []).filter((m) => !(saved.workers ?? []).includes(m));
  if (workersGone.length > 0 || workersAdded.length > 0) {
    const part = (label: string, list: string[]) => (list.length ? `${label} ${list.join(', ')}` : '');
    problems.push({
      code: 'plan.stale.workers',
      message: `the worker pools' machines changed since the plan: ${[part('gone', workersGone), part('new', workersAdded)].filter(Boolean).join('; ')}`,
      hint: `${hint}. If a run of this plan was interrupted, resume it with kubeswap apply --to <version> --image <image> (the plan's)`,
    });
  }
  if (saved.kubeadmConfig !== now.kubeadmConfig) {
    problems.push({
      code: 'plan.stale.kubeadm-config',
      message: 'kube-system/kubeadm-config (ClusterConfiguration) changed since the plan',
      hint,
    });
  }
  return problems;
}
