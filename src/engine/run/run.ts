// `apply` and `plan` as commented checklists over the pieces: preflight, lock, progress record,
// etcd snapshot, cluster preparation, then the converge loop.
import { hostname } from 'node:os';
import path from 'node:path';
import { formatDuration } from '../../domain/clock.ts';
import { invalid, KubeswapError } from '../../domain/errors.ts';
import type { EventCode } from '../../domain/events.ts';
import { apiVersionNeed } from '../../domain/kubeadm/api-migration.ts';
import { KUBEADM_CONFIG, KUBEADM_NAMESPACE, type KubeadmApiVersion } from '../../domain/kubeadm/cluster-config.ts';
import { parseTargetVersion } from '../../domain/kubeadm/versions.ts';
import { CONTROL_PLANE_POOL, type Desired, type NodeView } from '../../domain/model.ts';
import type { PoolSpec } from '../../domain/pools.ts';
import { estimateDuration } from '../../domain/run-timeline.ts';
import type { ConfigMapView, KubePort } from '../../ports/kube.ts';
import { type AddonDecision, addonsPending, planAddons } from '../addons/plan.ts';
import { addonsBlocked, observeAddons, upgradeAddons } from '../addons/upgrade.ts';
import { accessProblems, rbacRepairProblems } from '../checks/access.ts';
import { preflight, type UpgradeRequest } from '../checks/preflight.ts';
import { asPreflightError } from '../checks/preflight-errors.ts';
import { refuseUnlessReady } from '../checks/readiness/readiness.ts';
import { checkReadiness, DEFAULT_READINESS_REQUEST } from '../checks/readiness/run-readiness.ts';
import { observe, readClusterConfig } from '../observe/observe.ts';
import { controlPlaneMachines, type Snapshot, unlinkedMembers } from '../observe/snapshot.ts';
import type { PlanScope } from '../plan/decisions.ts';
import type { GateResult } from '../plan/gate.ts';
import { plan } from '../plan/planner.ts';
import { type PoolPlan, poolPlan } from '../plan/pool-report.ts';
import { type Candidate, orderCandidates } from '../plan/selection.ts';
import { type Decision, finishesSwap, type Step, startsSwap } from '../plan/steps.ts';
import { findSwaps, gateFor } from '../plan/swaps.ts';
import type { EngineOptions, Ports, RenderRequest } from '../ports.ts';
import { kubeletConfigPlan } from '../prepare/kubelet-config.ts';
import { kubeletConfigMaps, type PrepareSeen, prepareCluster, rbacLabel } from '../prepare/prepare.ts';
import { prepareRenderMode, type RenderMode } from '../prepare/render-mode.ts';
import { converge, interrupted } from './converge.ts';
import type { GateStreak } from './gate-streak.ts';
import { awaitHealthyStart } from './healthy-start.ts';
import { acquireLock, formatHolder, processStart, releaseLock } from './lock.ts';
import { LockKeeper } from './lock-keeper.ts';
import { newRunId, type ProgressRecord, readProgress, readProgressObject, writeProgress } from './progress.ts';
import { retiringReader } from './retiring.ts';
import { lastMeasuredRun } from './run-record.ts';
import { type ClusterChanges, type ClusterFingerprint, staleProblems, workerFingerprint } from './saved-plan.ts';
import { notReadyAtStart, verificationFailure, verifyRun } from './verify.ts';

export const LOCK_NAME = 'kubeswap-lock';

export interface PlanReport {
  from: string;
  desired: Desired;
  runId: string;
  candidates: Candidate[];
  upToDate: string[];
  orphans: string[];
  gate: GateResult;
  next: Decision;
  /** Replacement (or remove-first swap) in flight from an earlier, interrupted run. */
  inFlight?: string;
  /** What this plan observed and resolved: a saved plan is refused when it no longer matches. */
  fingerprint: ClusterFingerprint;
  /** What else the run changes, besides the machines. */
  changes: ClusterChanges;
  /** kubeadm-config's ClusterConfiguration is converted because the target's kubeadm cannot read it. */
  kubeadmApi?: { from: string; to: string };
  /** kube-proxy and CoreDNS after the control plane (engine/addons). */
  addons: AddonDecision[];
  /** What the run replaces: the control plane, the worker pools, or both. */
  scope: PlanScope;
  /** Worker pools after the control plane and addons, in order. */
  pools: PoolPlan[];
}

export interface RunOutcome {
  result: 'done' | 'nothing-to-do' | 'dry-run';
  runId: string;
  swaps: number;
  snapshotFile?: string;
  durationMs: number;
  report: PlanReport;
}

/** Observe and validate; no change to anything. Throws `invalid` with every problem found. */
export async function inspect(
  ports: Ports,
  request: UpgradeRequest,
  addonOptions: { skipAddons?: boolean; pools?: readonly PoolSpec[]; scope?: PlanScope } = {},
): Promise<PlanReport> {
  return (await inspectWithProgress(ports, request, addonOptions)).report;
}

/**
 * `inspect`, with the Nodes it read: the readiness report takes them instead of listing every Node again, which on
 * a 5,000-node cluster is most of what `plan` costs beyond a small cluster (issue 15 §3).
 */
export async function inspectWithNodes(
  ports: Ports,
  request: UpgradeRequest,
  addonOptions: { skipAddons?: boolean; pools?: readonly PoolSpec[]; scope?: PlanScope } = {},
): Promise<{ report: PlanReport; nodes: NodeView[] }> {
  const { report, nodes } = await inspectWithProgress(ports, request, addonOptions);
  return { report, nodes };
}

/** `inspect`, and the progress record it read: `apply` decides from both, with one read. */
async function inspectWithProgress(
  ports: Ports,
  request: UpgradeRequest,
  addonOptions: { skipAddons?: boolean; pools?: readonly PoolSpec[]; scope?: PlanScope },
): Promise<{
  report: PlanReport;
  progress: ProgressRecord | undefined;
  /** The progress ConfigMap as read ('absent': none): the run's first write needs no read of its own. */
  progressObject: ConfigMapView | 'absent';
  nodes: NodeView[];
  seen: PrepareSeen;
}> {
  const scope = addonOptions.scope ?? 'all';
  const poolSpecs = scope === 'control-plane' ? [] : (addonOptions.pools ?? []);
  // May this identity do everything the run does? Its answer decides first: without it every read could be a
  // 403. The first reads go out beside it (all read-only), and their results or errors count only once it says yes.
  const nodesRead = ports.kube.listNodes();
  // kubeadm-config, read once for the preflight, the addons' plan and prepare (issue 15 §2: it was read three times).
  const kubeadmConfigRead = ports.kube.getConfigMap(KUBEADM_NAMESPACE, KUBEADM_CONFIG);
  kubeadmConfigRead.catch(() => undefined);
  const reads = Promise.all([readClusterConfig(ports, kubeadmConfigRead), nodesRead, readProgressObject(ports.kube)]);
  reads.catch(() => undefined);
  const denied = await accessProblems(ports.kube, { render: request.render === true });
  if (denied.length > 0) throw invalid(denied);
  const [cluster, nodes, { record: progress, object: progressObject }] = await reads;
  const checked = await preflight(ports, cluster, nodes, request);
  const desired = checked.desired;
  // Past the preflight the remaining reads are independent: they run side by side, and a problem found by the
  // checks is still what is reported (the observation's result is then dropped).
  const withTargets = ports.provider.loadBalancer !== undefined;
  const observed = desired
    ? observe(ports, {
        withTargets,
        desired,
        pools: poolSpecs.length > 0 ? poolSpecs.map((p) => p.name) : undefined,
        // The preflight's list, read a moment ago: on a large cluster every Node list costs (issue 15 §3).
        nodes: nodesRead,
      })
    : undefined;
  const addonsSeen = observeAddons(ports.kube, kubeadmConfigRead);
  observed?.catch(() => undefined);
  addonsSeen.catch(() => undefined);
  // What these reads found is passed to prepare (issue 15 §2: each was read again there): the RBAC objects present.
  const rbacPresent: string[] = [];
  const rbacSeen = {
    canI: ports.kube.canI.bind(ports.kube),
    rbacExists: async (object: Parameters<KubePort['rbacExists']>[0]) => {
      const exists = await ports.kube.rbacExists(object);
      if (exists) rbacPresent.push(rbacLabel(object));
      return exists;
    },
  };
  const [existingKubeletConfig, rbacProblems] = desired
    ? await Promise.all([
        kubeletConfigMaps(ports, checked.from, desired.version),
        rbacRepairProblems(rbacSeen, kubeletConfigPlan(checked.from, desired.version, { configMaps: [] }).rbac),
      ])
    : [[], []];
  checked.problems.push(...rbacProblems);
  if (checked.problems.length > 0 || !checked.desired || !observed) throw invalid(checked.problems);
  const runId = resumableRun(progress, checked.desired)?.runId ?? 'planned';
  const snapshot = await observed;
  // A pool that selects no machine is a wrong tag or template, or a provider without worker pools: left to run,
  // it would report success having replaced nothing.
  const emptyPools = poolSpecs.filter((spec) =>
    snapshot.poolRollouts
      ? !snapshot.poolRollouts.some((r) => r.pool === spec.name)
      : !(snapshot.workerMachines ?? []).some((m) => m.pool === spec.name),
  );
  if (emptyPools.length > 0) {
    throw invalid(
      emptyPools.map((spec) => ({
        code: 'pool.empty',
        message: `worker pool ${spec.name} has no machine in provider ${ports.provider.name}`,
        hint: 'check its tag or launchTemplate (aws-ec2, exec), autoScalingGroup (aws-asg) or machineDeployment (cluster-api), or leave it out with --pools',
      })),
    );
  }
  const gate = gateFor(snapshot);
  const cps = controlPlaneMachines(snapshot);
  const candidates = orderCandidates(cps, checked.desired, runId);
  const fingerprint: ClusterFingerprint = {
    kubeadmConfig: cluster.digest,
    machines: [
      ...cps.map((cp) => `${cp.name}=${cp.machine?.id ?? '-'}`),
      ...snapshot.machines.filter((m) => !cps.some((cp) => cp.machine?.id === m.id)).map((m) => `+${m.id}`),
    ].sort(),
    imageId: checked.desired.imageId,
    template: checked.desired.template && `${checked.desired.template.id}:${checked.desired.template.version}`,
    workers: workerFingerprint(snapshot.nodes, snapshot.workerMachines ?? []),
  };
  // A saved plan runs only as reviewed: checked here, in the run's own observation, before anything changes.
  if (request.expect) {
    const stale = staleProblems(request.expect, fingerprint);
    if (stale.length > 0) {
      const error = invalid(stale);
      throw new KubeswapError(
        'invalid',
        'plan.stale',
        `the cluster moved on since the plan was saved: ${error.message}`,
        {
          hint: stale[0]!.hint,
          problems: stale,
        },
      );
    }
  }
  const next = plan({
    snapshot,
    desired: checked.desired,
    runId,
    gateStreak: gate.ok ? Number.MAX_SAFE_INTEGER : 0,
    gatePasses: 1,
    machineTimeoutMs: Number.MAX_SAFE_INTEGER,
    maxSurge: request.maxSurge ?? 1,
    scope,
    pools: poolSpecs,
  });
  const target = parseTargetVersion(checked.desired.version);
  const need = target ? apiVersionNeed(cluster.apiVersion as KubeadmApiVersion, target) : undefined;
  const report: PlanReport = {
    from: checked.from,
    desired: checked.desired,
    kubeadmApi: need?.kind === 'migrate' ? { from: need.from, to: need.to } : undefined,
    runId,
    candidates,
    upToDate: cps.filter((cp) => !candidates.some((c) => c.cp.name === cp.name)).map((cp) => cp.name),
    orphans: unlinkedMembers(snapshot).map(
      (m) => `etcd member ${m.name || '(unstarted)'} ${BigInt(m.id).toString(16)}`,
    ),
    gate,
    next,
    inFlight:
      findSwaps(snapshot).live[0]?.replacement.id ??
      (snapshot.retiring ? `${snapshot.retiring.node} is being removed before its replacement` : undefined) ??
      unfinishedRollback(next),
    fingerprint,
    changes: {
      ...clusterChanges(ports, checked.from, checked.desired.version, existingKubeletConfig, {
        machines: candidates.length,
        maxSurge: request.maxSurge ?? 1,
      }),
      // Boot and join times depend on the image, instance type and cloud: only this cluster's last run measures them.
      estimate: estimateDuration(candidates.length, await lastMeasuredRun(ports.kube)),
    },
    addons: planAddons(await addonsSeen, checked.desired.version, addonOptions.skipAddons),
    scope,
    pools: poolSpecs.map((spec) => poolPlan(snapshot, spec, { desired: checked.desired!, runId })),
  };
  return {
    report,
    progress,
    progressObject,
    nodes,
    seen: { kubeletConfigMaps: existingKubeletConfig, rbacPresent, kubeadmConfig: await kubeadmConfigRead },
  };
}

/** The cluster-wide part of the plan (prepare.ts does it; the load balancer is act.ts's), in words for review. */
function clusterChanges(
  ports: Ports,
  from: string,
  to: string,
  existing: string[],
  run: { machines: number; maxSurge: 0 | 1 },
): ClusterChanges {
  const kubelet = kubeletConfigPlan(from, to, { configMaps: existing });
  const objects = [
    ...(kubelet.copy ? [`ConfigMap ${KUBEADM_NAMESPACE}/${kubelet.copy.to} (copied from ${kubelet.copy.from})`] : []),
    ...kubelet.rbac.map((o) => `${o.kind} ${'namespace' in o ? `${o.namespace}/` : ''}${o.name} (when missing)`),
  ];
  const lb = ports.provider.loadBalancer;
  const loadBalancer = ports.provider.capabilities.ownsLoadBalancer
    ? `left to provider ${ports.provider.name}, which keeps the load-balancer membership itself`
    : lb
      ? `each replacement is registered with ${lb.name ?? 'the API load balancer'} once its API server is ready; each old machine is deregistered and drained before its etcd member leaves${lb.changes?.length ? `; ${lb.changes.join('; ')}` : ''}`
      : 'none (--no-load-balancer): clients that reach a removed machine by its address lose the API';
  return {
    ...(from !== to ? { kubeadmConfig: { from, to } } : {}),
    objects,
    loadBalancer,
    machines: run.machines,
    maxSurge: run.maxSurge,
  };
}

async function prepareBootstrap(
  ports: Ports,
  runId: string,
  version: string,
  request: RenderRequest,
  machineTimeoutMs: number,
): Promise<RenderMode> {
  const store = request.bootstrapSecrets === 'user-data' ? undefined : ports.provider.bootstrapSecrets;
  if (request.bootstrapSecrets !== 'user-data' && store?.kind !== request.bootstrapSecrets) {
    throw invalid([
      {
        code: 'bootstrap-secrets.unsupported',
        message: `provider ${ports.provider.name} cannot keep bootstrap secrets in ${request.bootstrapSecrets}`,
        hint: 'use --bootstrap-secrets user-data, or a provider that offers this store (aws-ec2: ssm)',
      },
    ]);
  }
  const mode = await prepareRenderMode(ports.kube, {
    secretStore: store,
    runId,
    targetVersion: version,
    now: ports.clock.now(),
    clock: () => ports.clock.now(),
    machineTimeoutMs,
    ttlSeconds: request.tokenTtlSeconds,
    certificateKey: request.certificateKey,
    pkiDir: request.pkiDir,
    caCertPem: request.caCertPem,
    secretBytes: request.secretBytes,
  });
  const s = mode.summary;
  ports.emit({
    code: 'bootstrap.prepared',
    at: ports.clock.now().toISOString(),
    level: 'info',
    message: `CA pin ${s.caCertHash}, certificates: ${s.certificates}; each replacement gets its own join token, valid ${formatDuration(s.credentialTtlSeconds * 1000)}, in ${s.secretsIn === 'user-data' ? 'its user data' : `${s.secretsIn}, read at boot`}`,
    data: { ...s },
  });
  return mode;
}

type CreateStep = Extract<Step, { kind: 'create-replacement' }>;

/** One replacement's join credentials, issued right before it is created; the event names them without secrets. */
async function issueCredentials(ports: Ports, mode: RenderMode, step: CreateStep): Promise<string> {
  const issued = await mode.issue({ replaces: step.old.id, attempt: step.attempt });
  ports.emit({
    code: 'bootstrap.issued',
    at: ports.clock.now().toISOString(),
    level: 'info',
    message: `join token ${issued.tokenId} for the replacement of ${step.old.id} (${issued.tokenReused ? 'reused' : 'new'}, expires ${issued.tokenExpires})${issued.certificatesUploaded ? ', certificates uploaded under a fresh key' : ''}${issued.storedAs ? `, stored as ${issued.storedAs}` : ''}`,
    machine: step.oldNode,
    data: {
      tokenId: issued.tokenId,
      tokenExpires: issued.tokenExpires,
      tokenReused: issued.tokenReused,
      certificatesUploaded: issued.certificatesUploaded,
      ...(issued.storedAs ? { storedAs: issued.storedAs } : {}),
    },
  });
  return issued.userData;
}

/** An abandoned run whose provider changes (a group's suspended processes) were never undone. */
function abandonedUnrestored(progress: ProgressRecord | undefined): ProgressRecord | undefined {
  return progress?.state === 'abandoned' && progress.provider !== undefined && !progress.providerRestored
    ? progress
    : undefined;
}

function resumableRun(progress: ProgressRecord | undefined, desired: Desired): ProgressRecord | undefined {
  if (progress?.state !== 'running') return undefined;
  return progress.version === desired.version && progress.imageId === desired.imageId ? progress : undefined;
}

export async function apply(
  ports: Ports,
  request: UpgradeRequest,
  options: EngineOptions,
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const started = ports.clock.now().getTime();
  const emit = (code: EventCode, message: string, data?: Record<string, unknown>) =>
    ports.emit({ code, at: ports.clock.now().toISOString(), level: 'info', message, data });
  const elapsed = () => ports.clock.now().getTime() - started;

  // 1. Validate everything before touching anything.
  const { report, progress, progressObject, nodes, seen } = await inspectWithProgress(
    ports,
    { ...request, maxSurge: options.maxSurge },
    { skipAddons: options.skipAddons, pools: options.pools, scope: options.scope },
  ).catch(async (err: unknown) => {
    // A refusal (a stale saved plan, a check that fails) while a run is in progress is not "nothing was
    // changed": that run changed the cluster, so the refusal is exit 4 with the state described.
    const inProgress = (await readProgress(ports.kube).catch(() => undefined))?.state === 'running';
    throw changedNotInvalid(asPreflightError(err), inProgress);
  });
  emit('preflight.passed', `upgrade ${report.from} -> ${report.desired.version} with image ${report.desired.imageId}`, {
    from: report.from,
    to: report.desired.version,
    imageId: report.desired.imageId,
  });
  const versionBehind = report.from !== report.desired.version;
  // A control plane at the target with kube-proxy or CoreDNS behind (an interrupted or blocked addon phase)
  // is resumed: the rest of the run then finds nothing to replace and does only the addons. And a run killed
  // after its last swap left the provider's run-wide changes (a group's suspended processes) in place: the
  // re-run goes through the loop, which finds nothing to replace, so that its end undoes them.
  const unrestored = resumableRun(progress, report.desired) ?? abandonedUnrestored(progress);
  const restoreDue =
    ports.provider.run !== undefined && unrestored?.provider !== undefined && !unrestored.providerRestored;
  if (report.next.kind === 'done' && !versionBehind && !addonsPending(report.addons) && !restoreDue) {
    emit('run.nothing-to-do', 'every control-plane machine already matches the target');
    return { result: 'nothing-to-do', runId: report.runId, swaps: 0, durationMs: elapsed(), report };
  }
  // Exit 2 promises that no run of this upgrade changed anything: a run in progress (its record, a
  // replacement or a retiring machine in the cluster) means this one stops with the state described (4).
  const changedBefore = resumableRun(progress, report.desired) !== undefined || report.inFlight !== undefined;
  if (report.next.kind === 'blocked') {
    throw new KubeswapError(changedBefore ? 'needs-person' : 'blocked', report.next.code, report.next.reason, {
      hint: report.next.hint,
    });
  }
  // The readiness report (removed APIs, certificates, versions, etcd): its blockers refuse a new run with nothing
  // changed. A resumed run is past that point: it reports them and finishes what it started. Its verdict comes
  // before the lock: taking the lock writes the Lease, and a refusal (exit 2) must leave nothing behind, not even a
  // released Lease (integration/scenarios/readiness.test.ts). Overlapping it with the lock, the health gate and the
  // etcd copy (issue 15 §1: 5 s in sequence) needs a lock taken only once the verdict is in; not done yet.
  if (ports.readiness) {
    const readiness = await checkReadiness(
      { ...ports, readiness: ports.readiness },
      {
        target: report.desired.version,
        replaced: report.candidates.map((c) => c.cp.name),
        machineTimeoutMs: options.machineTimeoutMs,
        drainTimeoutMs: options.drainTimeoutMs,
        resumedRun: resumableRun(progress, report.desired)?.runId,
        nodes,
      },
      request.readiness ?? DEFAULT_READINESS_REQUEST,
    ).catch((err: unknown) => {
      throw asPreflightError(err);
    });
    if (!changedBefore) refuseUnlessReady(readiness);
  }
  if (options.dryRun) {
    for (const c of report.candidates)
      emit('dry-run.step', `would replace ${c.cp.name}: ${c.reasons.map((r) => r.message).join('; ')}`);
    for (const pool of report.pools)
      for (const m of pool.machines.filter((x) => x.reasons.length > 0))
        emit(
          'dry-run.step',
          `would replace ${m.node} of pool ${pool.name}: ${m.reasons.map((r) => r.message).join('; ')}`,
        );
    for (const a of report.addons.filter((d) => d.action !== 'current'))
      emit('dry-run.step', `${a.action === 'update' ? 'would update' : a.action} ${a.addon}: ${a.reason}`);
    return { result: 'dry-run', runId: report.runId, swaps: 0, durationMs: elapsed(), report };
  }

  // 2. One run at a time: a Lease in kube-system, renewed while we run.
  if (progress?.state === 'running' && !resumableRun(progress, report.desired)) {
    throw new KubeswapError(
      'blocked',
      'run.other-target-in-progress',
      `an unfinished run ${progress.runId} targets ${progress.version} / ${progress.imageId}`,
      {
        hint: `re-run with --to ${progress.version} --image ${progress.imageId} to finish it first, or give it up with kubeswap abandon (changes no machine)`,
      },
    );
  }
  const runId = resumableRun(progress, report.desired)?.runId ?? newRunId(ports.clock.now());
  const holder = formatHolder({ runId, host: hostname(), pid: process.pid, start: processStart() });
  const lock = { namespace: KUBEADM_NAMESPACE, name: LOCK_NAME, holder, ttlSeconds: options.lockTtlSeconds };
  const acquired = await acquireLock(ports.kube, {
    ...lock,
    clock: ports.clock,
    onWatch: (other, seconds) =>
      emit('wait', `the lock held by ${other} looks expired; watching it ${seconds} s for a renewal before taking it`),
  });
  if (!acquired.acquired) {
    throw new KubeswapError(
      'blocked',
      'lock.held',
      `another kubeswap run holds the lock (${acquired.holder}) until ${acquired.expiresAt?.toISOString() ?? 'it is released'}`,
      {
        hint: 'wait for it to finish; if it died on another machine, `kubeswap unlock` breaks the lock',
      },
    );
  }
  emit('lock.acquired', `lock acquired by ${holder}`);
  const resumed = progress?.runId === runId;
  // From here on every mutating step first checks that the lock is still ours (design.md "State").
  const keeper = new LockKeeper(
    ports.kube,
    { ...lock, resourceVersion: acquired.lease.resourceVersion, lease: acquired.lease },
    ports.clock,
    (why) =>
      ports.emit({
        code: 'lock.lost',
        at: ports.clock.now().toISOString(),
        level: 'error',
        message: `lock lost: ${why}`,
      }),
  ).start();
  // The Nodes and static pods watched from here to the run's end, for the start gate, each loop and the steps between
  // (issue 15 §3: each loop started its own watch with a LIST of every Node, and the start gate's reads each listed
  // every Node). The loops subscribe for their wake-ups; this subscription only keeps the cache for the run.
  const stopWatchingRun = ports.kube.watchChanges?.(() => undefined);

  // Nothing changes until the gate has held (bounded): an unhealthy cluster is refused, not waited on.
  // A swap in flight is the exception: its replacement is part of what the gate sees and must finish.
  // Then a copy of etcd, kept locally, before any change.
  let startStreak: GateStreak | undefined;
  let startNodes: { at: number; nodes: Snapshot['nodes'] } | undefined;
  // The retiring record, read once under the lock for the start gate's passes and the loop's first (only a run's own
  // steps write it, and this one holds the lock and has taken none yet; issue 15 §2: it was read once each).
  const retiringOnce = retiringReader(ports.kube).read;
  const snapshotFile = path.join(options.snapshotDir, `kubeswap-etcd-${runId}-${Date.now()}.db`);
  const snap = await (async () => {
    if (!report.inFlight) {
      startStreak = await awaitHealthyStart(ports, options, {
        desired: report.desired,
        failure: resumed ? 'needs-person' : 'blocked',
        signal,
        retiring: retiringOnce,
        onFreshNodes: (read) => {
          startNodes = read;
        },
      });
    }
    await keeper.verify();
    return ports.etcd.snapshot(snapshotFile);
  })().catch(async (err: unknown) => {
    keeper.stop();
    await releaseLock(ports.kube, { ...lock, now: ports.clock.now() }).catch(() => undefined);
    emit('lock.released', 'lock released');
    stopWatching(stopWatchingRun);
    throw changedNotInvalid(err, changedBefore);
  });

  const record: ProgressRecord = {
    runId,
    version: report.desired.version,
    imageId: report.desired.imageId,
    state: 'running',
    startedAt: progress?.runId === runId ? progress.startedAt : ports.clock.now().toISOString(),
    updatedAt: ports.clock.now().toISOString(),
    last: 'started',
    machines: progress?.runId === runId ? progress.machines : {},
    ...(progress?.runId === runId && progress.lastPoolStep ? { lastPoolStep: progress.lastPoolStep } : {}),
    ...(progress?.runId === runId && progress.provider !== undefined
      ? { provider: progress.provider, providerRestored: progress.providerRestored ?? false }
      : {}),
    // Remembered once, at the first start: a Node that went NotReady while an earlier process of this run ran is
    // not excused by a resume. A record of this run without the list (written by an older kubeswap) excuses none.
    notReadyAtStart: progress?.runId === runId ? (progress.notReadyAtStart ?? []) : notReadyAtStart(nodes),
    // An abandoned run's run-wide changes not yet undone (its group held a swap in flight): this run takes over
    // their undo state, so its end restores them (a new baseline would take them for the user's).
    ...(abandonedUnrestored(progress) ? { provider: progress!.provider, providerRestored: false } : {}),
  };
  let render: RenderMode | undefined;
  let keepBootstrap = false;
  let recorded = false;
  let finished = false;
  // The record as the plan read it, before the lock: replaced guarded by its resourceVersion (or created), so a write
  // of another run since costs a conflict and a read, never a lost update (issue 15 §2: it was read again here).
  let written: Awaited<ReturnType<typeof writeProgress>> | 'absent' = progressObject;
  // The provider's run-wide changes are to be undone at every end once their undo state is recorded.
  let hooked = record.provider !== undefined && !record.providerRestored;
  try {
    emit(resumed ? 'run.resumed' : 'run.started', `run ${runId}: ${report.candidates.length} machine(s) to replace`, {
      runId,
      machines: report.candidates.map((c) => c.cp.name),
    });

    // 3. Render mode: a short-lived join token (and certificates) for this run's replacements. Its
    // checks (PKI matches the pinned CA, certificate key present) refuse before anything else changes.
    await keeper.verify();
    render = options.render
      ? await prepareBootstrap(ports, runId, report.desired.version, options.render, options.machineTimeoutMs)
      : undefined;
    const userDataFor = render ? (step: CreateStep) => issueCredentials(ports, render!, step) : undefined;

    // 3b. The provider's run-wide changes (an Auto Scaling Group's processes and sizes). It refuses before
    // `record` (nothing changed: exit 2) and records how to undo them before making them.
    if (ports.provider.run) {
      await keeper.verify();
      await ports.provider.run.begin({
        runId,
        desired: report.desired,
        // Once restored (a rolled-back attempt's end), the provider's state is as before the run: a new baseline.
        saved: record.providerRestored ? undefined : record.provider,
        // Only what this run replaces machines in: a --control-plane-only run leaves the worker pools alone.
        pools: poolsOfRun(options),
        record: async (state) => {
          record.provider = state;
          record.providerRestored = false;
          written = await writeProgress(ports.kube, record, written);
          recorded = true;
          hooked = true;
        },
      });
      emit('provider.run-began', `${ports.provider.name}: run-wide changes made (recorded for the restore)`);
    }
    written = await writeProgress(ports.kube, record, written);
    recorded = true;

    // 4. The copy of etcd taken before any change (above, beside the readiness report).
    emit('etcd.snapshot-saved', `etcd snapshot saved to ${snap.file} (${snap.bytes} bytes)`, {
      file: snap.file,
      bytes: snap.bytes,
    });

    // 5. kubeadm-config version and endpoints, kubelet config and RBAC for the target.
    await keeper.verify();
    await prepareCluster(ports, report.from, report.desired.version, seen);

    // 6. Replace machines one at a time until the plan says done.
    const runCtx = { runId, desired: report.desired, options, userDataFor, changedBefore, drained: new Map() };
    const loopHooks = {
      signal,
      lock: keeper,
      afterStep: async (d: Extract<Decision, { kind: 'step' }>) => {
        const key = d.pool ? `${d.pool}/${d.machine}` : d.machine;
        const first = record.machines[key] === undefined;
        record.machines[key] = d.step.kind;
        record.last = `${d.step.kind} ${d.machine}`;
        record.updatedAt = ports.clock.now().toISOString();
        record.lastPoolStep = { pool: d.pool ?? CONTROL_PLANE_POOL, at: record.updatedAt };
        // Written when a swap starts and ends only (issue 15 §2: one write per step was 29 requests per swap, one
        // per phase still 16 per run); the steps in between go with the next write. Resume needs none of it (it
        // re-derives every swap from live state and keeps the run id, written at the start), nor does `kubeswap
        // report` (the runs ConfigMap); `abandon` and `status` need each machine this run touched (its first step)
        // and whether its swap ended; a worker pool's step ends are kept each, since --pool-interval counts from the
        // last one, also across processes.
        if (first || d.pool || PROGRESS_PHASES.has(d.step.kind) || startsSwap(d.step) || finishesSwap(d.step)) {
          written = await writeProgress(ports.kube, record, written);
        }
      },
    };
    const scope = options.scope ?? 'all';
    const result =
      scope === 'workers'
        ? { swaps: 0, steps: 0, passes: 0 }
        : await converge(ports, runCtx, {
            ...loopHooks,
            scope: 'control-plane',
            gateStreak: startStreak,
            ...(startNodes ? { freshRead: startNodes } : {}),
            retiring: retiringOnce,
          });

    // 7. kube-proxy and CoreDNS to what kubeadm of the target writes, once every API server runs it (kubeadm
    // >= 1.28 does the same). Something left alone ends the run with exit 4, the control plane done.
    // Not written on its own: the record says which swaps ended, and the run's end (or failure) is written next.
    record.last = 'addons';
    const addons = await upgradeAddons(ports, {
      version: report.desired.version,
      skip: options.skipAddons,
      timeoutMs: options.addonTimeoutMs,
      pollIntervalMs: options.pollIntervalMs,
      signal,
      verifyLock: () => keeper.verify(),
    });
    if (addons.blocked.length > 0) throw addonsBlocked(addons.blocked);

    // 8. Worker pools, in the configured order, once the control plane runs the target (version-skew policy).
    if (scope !== 'control-plane' && (options.pools ?? []).length > 0) {
      record.last = 'worker pools';
      written = await writeProgress(ports.kube, record, written);
      // --pool-interval after the control plane and between pools: counted from the last step's end in the
      // progress record (this process's or, resumed, an earlier one's), before a pool's first step.
      const last = record.lastPoolStep;
      const lastPool = last ? { name: last.pool, at: Date.parse(last.at) } : undefined;
      const workers = await converge(ports, runCtx, { ...loopHooks, scope: 'workers', lastPool });
      result.swaps += workers.swaps;
    }

    // 9. The verification pass: the cluster as an operator would check it, read afresh. The join credentials go
    // first, so that "nothing left behind" holds for them too.
    if (render) {
      await cleanupBootstrap(ports, render);
      render = undefined;
    }
    // The provider's run-wide changes are undone before the verification too, so that it checks them.
    let providerEnd: { restored: boolean; message: string } | undefined;
    if (hooked && ports.provider.run && !keeper.lost) {
      providerEnd = await endProviderRun(ports, record, true);
      hooked = false;
    }
    record.last = 'verify';
    const verified = await verifyRun(ports, {
      desired: report.desired,
      pollIntervalMs: options.pollIntervalMs,
      render: options.render !== undefined,
      scope: options.scope ?? 'all',
      notReadyAtStart: record.notReadyAtStart ?? [],
      ...(providerEnd ? { providerEnd } : {}),
      signal,
    });
    const failedChecks = verified.checks.filter((c) => !c.ok);
    ports.emit({
      code: verified.ok ? 'verify.passed' : 'verify.failed',
      at: ports.clock.now().toISOString(),
      level: verified.ok ? (failedChecks.length > 0 ? 'warn' : 'info') : 'error',
      message: verified.ok
        ? `verified: ${verified.checks.length - failedChecks.length} of ${verified.checks.length} checks passed${failedChecks.length > 0 ? `; warnings: ${failedChecks.map((c) => c.detail).join('; ')}` : ''}`
        : `verification failed: ${failedChecks.map((c) => `${c.check}: ${c.detail}`).join('; ')}`,
      data: { ...verified },
    });
    if (!verified.ok) throw verificationFailure(verified);
    Object.assign(record, { state: 'finished', last: 'finished', updatedAt: ports.clock.now().toISOString() });
    written = await writeProgress(ports.kube, record, written);
    finished = true;
    emit('run.finished', `replaced ${result.swaps} machine(s) in ${formatDuration(elapsed())}`, {
      swaps: result.swaps,
      durationMs: elapsed(),
    });
    return { result: 'done', runId, swaps: result.swaps, snapshotFile: snap.file, durationMs: elapsed(), report };
  } catch (thrown) {
    const err = asInterrupt(thrown, signal);
    const failure = err instanceof KubeswapError ? err.failure : 'internal';
    // An interrupted or rolled-back run keeps `running` so a re-run resumes with the same run id.
    // A run that lost its lock leaves the record and the join token to the run that holds it now.
    const lost = keeper.lost !== undefined;
    if (recorded && !lost && failure !== 'interrupted' && failure !== 'rolled-back') {
      Object.assign(record, { state: 'running', last: `failed: ${(err as Error).message}`.slice(0, 500) });
      written = await writeProgress(ports.kube, record).catch(() => undefined);
    }
    keepBootstrap = failure === 'interrupted' || lost;
    throw changedNotInvalid(err, recorded || changedBefore);
  } finally {
    // An interrupted run keeps its token so the resumed run reuses it; every other end deletes it.
    if (render && !keepBootstrap) await cleanupBootstrap(ports, render);
    // Under the lock still: a run that lost it leaves the group to the run that holds it now.
    if (hooked && ports.provider.run && !keeper.lost) await endProviderRun(ports, record, finished);
    keeper.stop();
    if (!keeper.lost) {
      await releaseLock(ports.kube, { ...lock, now: ports.clock.now() }).catch(() => undefined);
      emit('lock.released', 'lock released');
    }
    stopWatching(stopWatchingRun);
  }
}

/** Ends the run's watched cache, after the lock's release: a hint's teardown never stands in front of it. */
function stopWatching(stop: (() => void) | undefined): void {
  try {
    stop?.();
  } catch {
    // Nothing to undo: the watches end with the process at the latest.
  }
}

/**
 * Once the run is interrupted, a wait it ended rejects with the signal's reason, or a provider's error wrapping it: such
 * a failure is the interrupt (exit 130, the re-run repeats the step). Anything else stands as it is, also after the
 * interrupt: a verdict of the run's own (a rollback finished, a drain blocked, the lock lost), and a real failure that
 * happened to come meanwhile (an etcd or API error), which must not read "re-run to resume".
 */
function asInterrupt(err: unknown, signal: AbortSignal | undefined): unknown {
  if (!signal?.aborted || (err instanceof KubeswapError && err.failure !== 'internal')) return err;
  for (let cause = err, depth = 0; cause !== undefined && depth < 10; depth++) {
    if (cause === signal.reason) return interrupted();
    cause = (cause as { cause?: unknown } | null)?.cause;
  }
  return err;
}

/** The pools a run replaces machines in, the control plane's included (its scope and --pools). */
function poolsOfRun(options: EngineOptions): string[] {
  const scope = options.scope ?? 'all';
  return [
    ...(scope !== 'workers' ? [CONTROL_PLANE_POOL] : []),
    ...(scope !== 'control-plane' ? (options.pools ?? []).map((p) => p.name) : []),
  ];
}

async function cleanupBootstrap(ports: Ports, render: RenderMode): Promise<void> {
  const message = await render.cleanup().then(
    () => 'join token and uploaded certificates deleted',
    (err: unknown) => `cleanup failed: ${(err as Error).message}; the token expires on its own`,
  );
  ports.emit({ code: 'bootstrap.cleaned', at: ports.clock.now().toISOString(), level: 'info', message });
}

/** Undoes the provider's run-wide changes as far as it finds safe; a failure to is reported, never thrown. */
async function endProviderRun(
  ports: Ports,
  record: ProgressRecord,
  finished: boolean,
): Promise<{ restored: boolean; message: string }> {
  const at = () => ports.clock.now().toISOString();
  try {
    const end = await ports.provider.run!.end({ runId: record.runId, saved: record.provider, finished });
    ports.emit({
      code: end.restored ? 'provider.run-restored' : 'provider.restore-deferred',
      at: at(),
      level: end.restored ? 'info' : 'warn',
      message: end.message,
    });
    if (end.restored) {
      // Kept in the record this process writes next too, so a later write does not make it look unrestored.
      record.providerRestored = true;
      await writeProgress(ports.kube, record);
    }
    return end;
  } catch (err) {
    const message = `${ports.provider.name}: restoring failed (${(err as Error).message}); a re-run of this upgrade restores it`;
    ports.emit({ code: 'provider.restore-deferred', at: at(), level: 'warn', message });
    return { restored: false, message };
  }
}

/**
 * Control-plane steps after which the progress record is written besides a swap's start and end: a rollback (its
 * replacement is gone, the old machine serves again).
 */
const PROGRESS_PHASES: ReadonlySet<Step['kind']> = new Set(['rollback']);

/**
 * Exit 2 ("nothing changed") must hold for the cluster, not for this process: once this run or an earlier
 * one of the same upgrade changed something, a refusal is a stop that needs a person (exit 4).
 */
function changedNotInvalid(err: unknown, changed: boolean): unknown {
  if (!changed || !(err instanceof KubeswapError) || (err.failure !== 'blocked' && err.failure !== 'invalid')) {
    return err;
  }
  return new KubeswapError('needs-person', err.code, `${err.message} (the upgrade has already changed the cluster)`, {
    hint: `${err.hint ? `${err.hint}; ` : ''}kubeswap status shows the run in progress; fix the cause and re-run to continue`,
    cause: err,
    problems: err.problems,
    source: err.source,
    retryable: err.retryable,
  });
}

/**
 * A rollback left unfinished (its process killed, or the replacement lost while the old machine was retired): the
 * failed replacement is part of what the gate sees, so waiting for a healthy start would wait on the very thing
 * the rollback removes, and leave the old machine out of the load balancer meanwhile.
 */
function unfinishedRollback(next: Decision): string | undefined {
  if (next.kind !== 'step' || next.step.kind !== 'rollback') return undefined;
  return `${next.step.replacement.id} failed; its rollback is unfinished`;
}
