// The verification pass after the last step (issue 13 §2): what an operator checks by hand once an upgrade ends,
// read afresh from the cluster rather than from what the run believes it did. Its result is part of the run's: a
// failed check ends the run with exit 4 (the upgrade is done but something needs a person), and the event carries
// every check, the component versions and the machines after the run for the report.
import { KubeswapError } from '../../domain/errors.ts';
import { normalizeVersion } from '../../domain/kubeadm/versions.ts';
import type { Desired, NodeView } from '../../domain/model.ts';
import type { ComponentVersion } from '../../domain/readiness/report.ts';
import { observeVersions } from '../checks/readiness/readiness.ts';
import { observe, readClusterConfig } from '../observe/observe.ts';
import { controlPlaneMachines, isLive, type Snapshot, unlinkedMembers } from '../observe/snapshot.ts';
import { DRAINED_ANNOTATION, RETIRING_ANNOTATION, WAS_CORDONED_ANNOTATION } from '../plan/annotations.ts';
import type { PlanScope } from '../plan/decisions.ts';
import type { Ports } from '../ports.ts';
import { BOOTSTRAP_TOKEN_TYPE, RUN_ID_LABEL, TOKEN_NAMESPACE } from '../prepare/bootstrap-token.ts';

export interface VerifyCheck {
  check: string;
  ok: boolean;
  /** `warn`: reported, the run's result unchanged (availability is measured, not guaranteed). */
  level: 'fail' | 'warn';
  detail: string;
}

export interface Verification {
  ok: boolean;
  checks: VerifyCheck[];
  components: ComponentVersion[];
  machines: { node: string; machine?: string; imageId?: string; kubelet: string; zone?: string }[];
}

/** Pods and Nodes settle for a moment after the last rollout (kubelet status updates): re-checked for this long. */
export const VERIFY_SETTLE_MS = 60_000;
/**
 * Each re-check reads every Node afresh, as an operator's check would (at 5,000 Nodes a few MB): the pause between
 * two doubles from the poll interval up to this, so a cluster that settles at once is seen at once, and one that does
 * not costs a handful of reads within VERIFY_SETTLE_MS instead of one per poll interval (issue 15 §3).
 */
export const VERIFY_RECHECK_MAX_MS = 10_000;

const KUBESWAP_ANNOTATIONS = [RETIRING_ANNOTATION, DRAINED_ANNOTATION, WAS_CORDONED_ANNOTATION];
/** Pod phases of a pod that cannot run; a Failed one waits for garbage collection while its controller runs another. */
const UNRUNNABLE_PHASES: readonly string[] = ['Pending', 'Unknown'];
const CONTROL_PLANE_COMPONENTS = new Set(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);

/** A Node by name and creationTimestamp (the API server's clock): a Node deleted and re-registered is another one. */
export interface NodeAtStart {
  node: string;
  createdAt: string;
}

/**
 * The worker Nodes not Ready when the run started, kept in the progress record: one NotReady worker among thousands
 * is the cluster's state, not the run's doing, and must not fail a control-plane run's verification.
 */
export function notReadyAtStart(nodes: readonly NodeView[]): NodeAtStart[] {
  return nodes
    .filter((n) => !n.ready && !n.controlPlane)
    .map((n) => ({ node: n.name, createdAt: n.createdAt.toISOString() }));
}

/**
 * The Nodes not Ready now, split: `failing` fail the verification (every control-plane Node, every Node the run
 * created, every Node that was Ready at the start); `before` were not Ready at the start already (a warning).
 */
export function notReadyNodes(
  nodes: readonly NodeView[],
  atStart: readonly NodeAtStart[],
): { failing: NodeView[]; before: NodeView[] } {
  // Same name and creation time: a Node the run created (a replacement reusing a name) was not there at the start.
  const known = new Set(atStart.map((n) => `${n.node}@${Date.parse(n.createdAt)}`));
  const notReady = nodes.filter((n) => !n.ready);
  const before = notReady.filter((n) => !n.controlPlane && known.has(`${n.name}@${n.createdAt.getTime()}`));
  return { failing: notReady.filter((n) => !before.includes(n)), before };
}

export async function verifyRun(
  ports: Ports,
  context: {
    desired: Desired;
    pollIntervalMs: number;
    render: boolean;
    scope?: PlanScope;
    /** Worker Nodes not Ready when the run started (the progress record's): a warning if still not Ready. */
    notReadyAtStart?: readonly NodeAtStart[];
    /** What the provider's run end said (undefined: the provider changes nothing run-wide). */
    providerEnd?: { restored: boolean; message: string };
    signal?: AbortSignal;
  },
): Promise<Verification> {
  const deadline = ports.clock.now().getTime() + VERIFY_SETTLE_MS;
  let said = '';
  let pause = context.pollIntervalMs;
  while (true) {
    const result = await verifyOnce(ports, context);
    if (result.ok) return result;
    // Interrupted: the upgrade is done, its check was not (exit 130, not a failed verification).
    if (context.signal?.aborted) throw context.signal.reason;
    if (ports.clock.now().getTime() >= deadline) return result;
    // Says what it waits for (once per change), so a slow verification is explained in the output.
    const failing = result.checks
      .filter((c) => !c.ok && c.level === 'fail')
      .map((c) => `${c.check}: ${c.detail}`)
      .join('; ');
    if (failing !== said) {
      ports.emit({
        code: 'wait',
        at: ports.clock.now().toISOString(),
        level: 'info',
        message: `verification: re-checking while the cluster settles (${failing})`,
        data: { reason: 'verify.settling' },
      });
      said = failing;
    }
    await ports.clock
      .sleep(Math.min(pause, deadline - ports.clock.now().getTime()), context.signal)
      .catch(() => undefined);
    if (context.signal?.aborted) throw context.signal.reason;
    pause = Math.max(context.pollIntervalMs, Math.min(pause * 2, VERIFY_RECHECK_MAX_MS));
  }
}

/**
 * A check's problems, the first DETAIL_NAMED of them by name: on a large cluster one failed check can name thousands
 * (a kube-proxy pod Pending on each of 5,000 Nodes), which would flood the output and outgrow the run's stored timeline
 * (a ConfigMap: 1 MiB). `kubectl get` shows the rest.
 */
function named(problems: string[]): string {
  const shown = problems.slice(0, DETAIL_NAMED).join('; ');
  return problems.length > DETAIL_NAMED ? `${shown}; and ${problems.length - DETAIL_NAMED} more` : shown;
}
const DETAIL_NAMED = 10;

async function verifyOnce(
  ports: Ports,
  context: {
    desired: Desired;
    render: boolean;
    scope?: PlanScope;
    notReadyAtStart?: readonly NodeAtStart[];
    providerEnd?: { restored: boolean; message: string };
  },
): Promise<Verification> {
  const { desired, render } = context;
  const scope = context.scope ?? 'all';
  const target = normalizeVersion(desired.version);
  // Every Node from the API server, not from the run's watched cache: what the run's own view may have missed.
  const snapshot = await observe(ports, { withTargets: false, desired, freshNodes: true });
  const checks: VerifyCheck[] = [];
  const check = (name: string, problems: string[], okDetail: string, level: VerifyCheck['level'] = 'fail') =>
    checks.push({ check: name, ok: problems.length === 0, level, detail: named(problems) || okDetail });

  const cps = controlPlaneMachines(snapshot);
  const notReady = notReadyNodes(snapshot.nodes, context.notReadyAtStart ?? []);
  check(
    'nodes.ready',
    notReady.failing.map((n) => `${n.name} is not Ready`),
    notReady.before.length > 0
      ? `${snapshot.nodes.length - notReady.before.length} Node(s) Ready: every control-plane Node and every Node Ready at the start`
      : `${snapshot.nodes.length} Node(s) Ready`,
  );
  if (notReady.before.length > 0) {
    check(
      'nodes.not-ready-before',
      notReady.before.map((n) => `${n.name} is not Ready (it was not Ready when the run started)`),
      '',
      'warn',
    );
  }
  check(
    'nodes.version',
    cps
      .filter((cp) => normalizeVersion(cp.node.kubeletVersion) !== target)
      .map((cp) => `${cp.name} runs kubelet ${cp.node.kubeletVersion}`),
    `every control-plane kubelet at ${target}`,
  );
  check(
    'kube-system.pods',
    await kubeSystemProblems(ports, snapshot),
    'no kube-system pod Pending or Unknown, every control-plane static pod Ready',
  );
  check(
    'etcd.members',
    etcdProblems(snapshot, cps),
    `${snapshot.etcd.members.length} voting member(s), one per control-plane Node, healthy`,
  );
  const cluster = await readClusterConfig(ports);
  check(
    'kubeadm-config',
    normalizeVersion(cluster.kubernetesVersion) === target ? [] : [`kubeadm-config says ${cluster.kubernetesVersion}`],
    `kubernetesVersion ${target}`,
  );
  check(
    'machines',
    // A workers-only run leaves the control plane on its own image: the version checks still hold for it.
    machineProblems(snapshot, cps, scope === 'workers' ? undefined : desired),
    scope === 'workers'
      ? 'every control-plane Node has its machine, and no machine is left without one'
      : desired.imageId.startsWith('(')
        ? `every control-plane Node has its machine ${desired.imageId}`
        : `every control-plane machine runs image ${desired.imageId}`,
  );
  // The provider's run-wide changes (an Auto Scaling group's sizes, suspended processes, scale-in protection) were
  // undone just before this pass; a group left as the run set it is something left behind.
  if (context.providerEnd) {
    check(
      'provider.restored',
      context.providerEnd.restored ? [] : [context.providerEnd.message],
      context.providerEnd.message,
    );
  }
  check(
    'leftovers',
    await leftovers(ports, snapshot, render),
    `no kubeswap ${render ? 'join token, ' : ''}annotation or retiring marker left`,
  );

  const components = ports.readiness
    ? (
        await observeVersions(
          ports.readiness,
          // The last old machine's mirror pods outlive its Node until pod GC's quarantine ends (40-60 s): they are
          // not components that run, and waiting for them was most of the verification's time (issue 15 §1).
          { target, nodes: snapshot.nodes, replaced: [], presentNodesOnly: true },
          (_check, subject, err) =>
            checks.push({
              check: 'components.version',
              ok: false,
              level: 'warn',
              detail: `${subject} not read: ${err instanceof Error ? err.message : String(err)}`,
            }),
        )
      ).components
    : [];
  if (ports.readiness) {
    check(
      'components.version',
      components
        .filter((c) => CONTROL_PLANE_COMPONENTS.has(c.component) && normalizeVersion(c.now) !== target)
        .map((c) => `${c.component} on ${c.where} is ${c.now}`),
      `every kube-apiserver, kube-controller-manager and kube-scheduler at ${target}`,
    );
  }
  const measured = ports.availability?.();
  if (measured) {
    check(
      'api.availability',
      measured.failed > 0 ? [`${measured.failed} of ${measured.requests} API requests failed`] : [],
      `${measured.requests} API requests, none failed, longest gap ${measured.longestGapMs} ms`,
      'warn',
    );
  }
  return {
    ok: checks.every((c) => c.ok || c.level === 'warn'),
    checks,
    components,
    machines: cps.map((cp) => ({
      node: cp.name,
      machine: cp.machine?.id,
      imageId: cp.machine?.imageId,
      kubelet: cp.node.kubeletVersion,
      zone: cp.machine?.zone,
    })),
  };
}

async function kubeSystemProblems(ports: Ports, snapshot: Snapshot): Promise<string[]> {
  const problems: string[] = [];
  // The kube-system pods that cannot run, in one list per phase, instead of a pod list per Node (thousands of
  // requests on a large cluster) or all of kube-system (a kube-proxy pod per Node).
  const byNode = new Map<string, { name: string; phase: string }[]>();
  for (const pod of await ports.kube.podsInNamespace('kube-system', { phases: UNRUNNABLE_PHASES })) {
    if (pod.node) byNode.set(pod.node, [...(byNode.get(pod.node) ?? []), pod]);
  }
  for (const node of snapshot.nodes) {
    for (const [component, pod] of Object.entries(node.staticPods ?? {})) {
      if (pod && !pod.ready) problems.push(`${component} on ${node.name} is not Ready`);
    }
    // A Failed pod (evicted by its kubelet, a finished Job's failed attempt) waits for garbage collection while its
    // controller runs another: only pods that cannot run (Pending, Unknown) are a problem.
    for (const pod of (byNode.get(node.name) ?? []).filter((p) => UNRUNNABLE_PHASES.includes(p.phase))) {
      problems.push(`kube-system/${pod.name} on ${node.name} is ${pod.phase}`);
    }
  }
  return problems;
}

function etcdProblems(snapshot: Snapshot, cps: ReturnType<typeof controlPlaneMachines>): string[] {
  const problems = [
    ...cps.filter((cp) => !cp.member).map((cp) => `${cp.name} has no etcd member`),
    ...unlinkedMembers(snapshot).map((m) => `etcd member ${m.name || '(unstarted)'} has no control-plane Node`),
    ...snapshot.etcd.members.filter((m) => m.isLearner).map((m) => `etcd member ${m.name} is still a learner`),
    ...snapshot.etcd.endpoints
      .filter((e) => !e.healthy)
      .map((e) => `etcd at ${e.endpoint} is unhealthy${e.error ? `: ${e.error}` : ''}`),
    ...snapshot.etcd.alarms.map((a) => `etcd alarm ${JSON.stringify(a)}`),
  ];
  return problems;
}

function machineProblems(
  snapshot: Snapshot,
  cps: ReturnType<typeof controlPlaneMachines>,
  desired: Desired | undefined,
): string[] {
  const linked = new Set(cps.flatMap((cp) => (cp.machine ? [cp.machine.id] : [])));
  return [
    ...cps.filter((cp) => !cp.machine).map((cp) => `${cp.name} has no machine`),
    ...cps
      // A provider names no single image with a parenthesised word (cluster-api without --image: each clone's own).
      .filter(
        (cp) => desired && !desired.imageId.startsWith('(') && cp.machine && cp.machine.imageId !== desired.imageId,
      )
      .map((cp) => `${cp.name} (${cp.machine!.id}) runs image ${cp.machine!.imageId}`),
    // An instance of the cluster that no control-plane Node accounts for: a replacement left behind.
    ...snapshot.machines
      .filter((m) => isLive(m) && !linked.has(m.id))
      .map((m) => `machine ${m.id} (${m.status}) has no control-plane Node`),
  ];
}

async function leftovers(ports: Ports, snapshot: Snapshot, render: boolean): Promise<string[]> {
  const annotated = snapshot.nodes.flatMap((n) =>
    KUBESWAP_ANNOTATIONS.filter((a) => n.annotations[a] !== undefined).map((a) => `${n.name} carries ${a}`),
  );
  // Only render mode creates join tokens (and only it may list Secrets: templates/rbac/kubeswap-render.yaml).
  const tokens = render
    ? await ports.kube.listSecrets(TOKEN_NAMESPACE, { labelSelector: RUN_ID_LABEL, type: BOOTSTRAP_TOKEN_TYPE })
    : [];
  return [
    ...annotated,
    ...tokens.map((t) => `join token Secret ${t.name} left`),
    ...(snapshot.retiring ? [`retiring marker for ${snapshot.retiring.node} left`] : []),
  ];
}

/** The verification's event, then its verdict: exit 4 when a check failed. */
export function verificationFailure(result: Verification): KubeswapError {
  const failed = result.checks.filter((c) => !c.ok && c.level === 'fail');
  return new KubeswapError(
    'needs-person',
    'verify.failed',
    `the upgrade ran to its end but the verification failed: ${failed.map((c) => `${c.check}: ${c.detail}`).join('; ')}`,
    { hint: 'fix what each failed check names (the control plane is at the target); kubeswap report shows the run' },
  );
}
