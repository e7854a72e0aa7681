// Table tests of the planner for pools the provider rolls itself (Cluster API MachineDeployments): one bump step,
// then the rollout is followed: progress waits, done only with every Machine at the target and a Ready Node, a
// stalled drain (named PodDisruptionBudget) or a Machine without a Ready Node stops the run; skew holds.
import assert from 'node:assert/strict';
import type { NodeView } from '../../../src/domain/model.ts';
import type { PoolSpec } from '../../../src/domain/pools.ts';
import type { PoolRollout, RolloutMachine } from '../../../src/domain/rollouts.ts';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import type { PlanInput } from '../../../src/engine/plan/decisions.ts';
import { plan } from '../../../src/engine/plan/planner.ts';
import { poolPlan } from '../../../src/engine/plan/pool-report.ts';
import { blockingBudget } from '../../../src/engine/plan/rolled-pool.ts';
import type { Decision } from '../../../src/engine/plan/steps.ts';
import { cluster, desired, NEW_IMAGE, node, RUN, TO } from '../builders.ts';

const AT = new Date('2026-06-01T01:00:00Z');
const POOL: PoolSpec = { name: 'workers', maxSurge: 1, maxUnavailable: 0 };

function controlPlane(version = TO): Snapshot {
  const s = cluster(['cp-a', 'cp-b', 'cp-c'], AT);
  return {
    ...s,
    nodes: s.nodes.map((n) => ({ ...n, kubeletVersion: version })),
    machines: s.machines.map((m) => ({ ...m, imageId: NEW_IMAGE, drift: [] })),
  };
}

const wm = (id: string, over: Partial<RolloutMachine> = {}): RolloutMachine => ({
  id,
  providerId: `sandbox://${id}`,
  phase: 'running',
  upToDate: true,
  version: TO,
  launchedAt: new Date('2026-06-01T00:59:00Z'),
  ...over,
});
const wnode = (id: string, over: Partial<NodeView> = {}) =>
  node(`n-${id}`, { controlPlane: false, staticPods: {}, providerId: `sandbox://${id}`, kubeletVersion: TO, ...over });

function rollout(machines: RolloutMachine[], over: Partial<PoolRollout> = {}): PoolRollout {
  return {
    pool: 'workers',
    kind: 'MachineDeployment',
    name: 'md-0',
    replicas: 2,
    drift: [],
    strategy: { maxSurge: 1, maxUnavailable: 0 },
    paused: false,
    machines,
    ...over,
  };
}

function world(r: PoolRollout[], workerNodes: NodeView[], cp = controlPlane()): Snapshot {
  return { ...cp, nodes: [...cp.nodes, ...workerNodes], poolRollouts: r };
}

const input = (snapshot: Snapshot, over: Partial<PlanInput> = {}): PlanInput => ({
  snapshot,
  desired: desired(),
  runId: RUN,
  gateStreak: 3,
  gatePasses: 3,
  machineTimeoutMs: 600_000,
  drainTimeoutMs: 300_000,
  maxSurge: 1,
  pools: [POOL],
  ...over,
});

const kindOf = (d: Decision) =>
  d.kind === 'step' ? `step:${d.step.kind}` : `${d.kind}:${(d as { code: string }).code}`;
const OLD = (id: string, over: Partial<RolloutMachine> = {}) =>
  wm(id, { upToDate: false, version: 'v1.36.3', ...over });
const DRIFT = [{ code: 'version', message: 'spec.template.spec.version v1.36.3 != v1.37.2' }];

describe('planner: pools the provider rolls (MachineDeployments)', () => {
  it('bumps a drifting MachineDeployment with the pool strategy, once the control plane is at the target', () => {
    const s = world([rollout([OLD('a'), OLD('b')], { drift: DRIFT })], [wnode('a', { kubeletVersion: 'v1.36.3' })]);
    const d = plan(input(s));
    assert.equal(kindOf(d), 'step:bump-pool');
    assert.deepEqual((d as Extract<Decision, { kind: 'step' }>).step, {
      kind: 'bump-pool',
      pool: 'workers',
      objectKind: 'MachineDeployment',
      name: 'md-0',
      strategy: { maxSurge: 1, maxUnavailable: 0 },
    });
    assert.equal((d as Extract<Decision, { kind: 'step' }>).pool, 'workers');
    const keep = plan(input(s, { pools: [{ ...POOL, keepStrategy: true }] }));
    assert.equal(
      (keep as Extract<Decision, { kind: 'step' }>).step.kind === 'bump-pool' && (keep as any).step.strategy,
      'keep',
    );
  });

  it('never bumps workers past a control plane not at the target (skew), nor while the gate fails', () => {
    const r = [rollout([OLD('a'), OLD('b')], { drift: DRIFT })];
    const behind = world(r, [], controlPlane('v1.36.3'));
    assert.notEqual(kindOf(plan(input(behind, { scope: 'workers' }))), 'step:bump-pool');
    const s = world(r, []);
    const unhealthy = { ...s, nodes: s.nodes.map((n) => (n.name === 'cp-a' ? { ...n, ready: false } : n)) };
    assert.equal(kindOf(plan(input(unhealthy, { scope: 'workers' }))), 'wait:gate.failing');
  });

  it('follows the rollout with progress, and is done only when every Machine is new with a Ready Node at the target', () => {
    const mid = world(
      [rollout([OLD('a', { deletionStartedAt: new Date('2026-06-01T00:59:30Z') }), OLD('b'), wm('x')])],
      [wnode('a', { kubeletVersion: 'v1.36.3' }), wnode('b', { kubeletVersion: 'v1.36.3' }), wnode('x')],
    );
    const d = plan(input(mid));
    assert.equal(kindOf(d), 'wait:pool.rollout');
    assert.match(
      (d as { reason: string }).reason,
      /1 of 2 Machine\(s\) at v1\.37\.2 with a Ready Node, 2 old left, Cluster API is deleting a \(node n-a\)/,
    );
    // New Machines all there but one Node not Ready yet: not done.
    const notReady = world([rollout([wm('x'), wm('y')])], [wnode('x'), wnode('y', { ready: false })]);
    assert.equal(kindOf(plan(input(notReady))), 'wait:pool.rollout');
    // A Node Ready at the old kubelet version is not the target.
    const oldKubelet = world([rollout([wm('x'), wm('y')])], [wnode('x'), wnode('y', { kubeletVersion: 'v1.36.3' })]);
    assert.equal(kindOf(plan(input(oldKubelet))), 'wait:pool.rollout');
    const done = world([rollout([wm('x'), wm('y')])], [wnode('x'), wnode('y')]);
    assert.equal(kindOf(plan(input(done))), 'done:undefined');
  });

  it('stops when Cluster API drains past --drain-timeout, naming the PodDisruptionBudget', () => {
    const message =
      "Drain not completed yet (started at 2026-06-01T00:50:00Z):\n* Pod default/web-1: cannot evict pod as it would violate the pod's disruption budget. The disruption budget web-pdb needs 2 healthy pods and has 2 currently";
    const s = world(
      [
        rollout([
          OLD('a', { deletionStartedAt: new Date('2026-06-01T00:50:00Z'), deleting: message }),
          OLD('b'),
          wm('x'),
        ]),
      ],
      [wnode('a', { kubeletVersion: 'v1.36.3' }), wnode('b', { kubeletVersion: 'v1.36.3' }), wnode('x')],
    );
    const d = plan(input(s));
    assert.equal(kindOf(d), 'blocked:node.drain-blocked');
    assert.match((d as { reason: string }).reason, /PodDisruptionBudget web-pdb does not allow the eviction/);
    assert.match((d as { hint: string }).hint, /relax PodDisruptionBudget web-pdb/);
    // Within the timeout it is a wait; unbounded without one.
    assert.equal(kindOf(plan(input(s, { drainTimeoutMs: 3_600_000 }))), 'wait:pool.rollout');
    assert.equal(blockingBudget('nothing about budgets'), undefined);
  });

  it('a deletion past its drain (infrastructure slow) is no blocked drain; bounded by drain plus terminate timeout', () => {
    const slow = (startedAt: string) =>
      world(
        [
          rollout([
            OLD('a', {
              deletionStartedAt: new Date(startedAt),
              deleting: 'Waiting for SandboxMachine to be deleted',
              deletingStage: 'after-drain',
            }),
            OLD('b'),
            wm('x'),
          ]),
        ],
        [wnode('a', { kubeletVersion: 'v1.36.3' }), wnode('b', { kubeletVersion: 'v1.36.3' }), wnode('x')],
      );
    // 10 min deleting, past --drain-timeout (5 min), within 5 + 10 min: its drain is done, it waits.
    const within = slow('2026-06-01T00:50:00Z');
    assert.equal(kindOf(plan(input(within, { terminateTimeoutMs: 600_000 }))), 'wait:pool.rollout');
    assert.equal(kindOf(plan(input(within))), 'wait:pool.rollout', 'unbounded without --terminate-timeout');
    const d = plan(input(slow('2026-06-01T00:40:00Z'), { terminateTimeoutMs: 600_000 }));
    assert.equal(kindOf(d), 'blocked:pool.deletion-stalled');
    assert.match((d as { reason: string }).reason, /its drain is done, it waits: Waiting for SandboxMachine/);
  });

  it('stops when Cluster API creates no Machine of the new template within --machine-timeout of the bump', () => {
    const waiting = (bumpedAt: string) =>
      world(
        [rollout([OLD('a'), OLD('b')], { bumpedAt: new Date(bumpedAt) })],
        [wnode('a', { kubeletVersion: 'v1.36.3' }), wnode('b', { kubeletVersion: 'v1.36.3' })],
      );
    assert.equal(kindOf(plan(input(waiting('2026-06-01T00:55:00Z')))), 'wait:pool.rollout');
    const d = plan(input(waiting('2026-06-01T00:49:00Z')));
    assert.equal(kindOf(d), 'blocked:pool.rollout-stalled');
    assert.match(
      (d as { reason: string }).reason,
      /has created no Machine of its new template within --machine-timeout/,
    );
    assert.match((d as { hint: string }).hint, /kubectl describe machinedeployment md-0/);
  });

  it('stops when a new Machine has no Ready Node past --machine-timeout, and on a paused or empty pool', () => {
    const stalled = world(
      [rollout([OLD('a'), OLD('b'), wm('x', { launchedAt: new Date('2026-06-01T00:40:00Z') })])],
      [wnode('a'), wnode('b')],
    );
    assert.equal(kindOf(plan(input(stalled))), 'blocked:pool.rollout-stalled');
    const paused = world([rollout([OLD('a'), OLD('b')], { drift: DRIFT, paused: true })], []);
    assert.equal(kindOf(plan(input(paused))), 'blocked:pool.paused');
    assert.equal(kindOf(plan(input(world([], [])))), 'blocked:pool.empty');
  });

  it('rolls the MachineDeployments of a pool one at a time', () => {
    const s = world(
      [
        rollout([wm('x'), wm('y', { launchedAt: AT })], { name: 'md-0' }),
        rollout([OLD('c'), OLD('d')], { name: 'md-1', drift: DRIFT }),
      ],
      [wnode('x'), wnode('y', { ready: false })],
    );
    assert.equal(kindOf(plan(input(s))), 'wait:pool.rollout');
  });

  it("plan lists the pool's Machines, why each is replaced, and whose strategy the rollout uses", () => {
    const s = world([rollout([OLD('a'), wm('x')], { drift: [] })], [wnode('a'), wnode('x')]);
    const p = poolPlan(s, { ...POOL, maxSurge: '50%' }, { desired: desired(), runId: RUN });
    assert.equal(p.size, 2);
    assert.deepEqual(p.fenceposts, { maxSurge: 1, maxUnavailable: 0 });
    assert.deepEqual(p.rolledBy, { objects: ['MachineDeployment md-0'], strategy: 'pool' });
    assert.deepEqual(
      p.machines.map((m) => [m.node, m.reasons.map((r) => r.code)]),
      [
        ['n-a', ['rollout']],
        ['n-x', []],
      ],
    );
    const own = poolPlan(s, { ...POOL, keepStrategy: true }, { desired: desired(), runId: RUN });
    assert.equal(own.rolledBy?.strategy, 'own');
  });
});

describe('plan text: a pool the provider rolls', () => {
  it('says which MachineDeployment rolls the pool and whose strategy it uses', async () => {
    const { poolLines } = await import('../../../src/cli/render/plan-report.ts');
    const s = world([rollout([OLD('a'), wm('x')])], [wnode('a'), wnode('x')]);
    const pools = [poolPlan(s, { ...POOL, keepStrategy: true }, { desired: desired(), runId: RUN })];
    const lines = poolLines({ pools, scope: 'all' } as never);
    assert.match(lines.join('\n'), /workers: 1 of 2 machine\(s\) to replace/);
    assert.match(
      lines.join('\n'),
      /rolled by Cluster API: MachineDeployment md-0 \(kubeswap bumps the template and follows the rollout; strategy: the MachineDeployment's own, kept\)/,
    );
  });
});
