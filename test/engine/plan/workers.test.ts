// Table tests of the worker-pool planner, and a small simulated world that applies each planned step to check
// the pool's limits hold at every pass (live machines <= size + maxSurge, unavailable <= maxUnavailable).
import assert from 'node:assert/strict';
import type { Machine, NodeView } from '../../../src/domain/model.ts';
import type { PoolSpec } from '../../../src/domain/pools.ts';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import {
  DRAINED_ANNOTATION,
  RETIRING_ANNOTATION,
  SCALE_DOWN_WAS_ANNOTATION,
} from '../../../src/engine/plan/annotations.ts';
import type { PlanInput } from '../../../src/engine/plan/decisions.ts';
import { plan } from '../../../src/engine/plan/planner.ts';
import type { Decision, Step } from '../../../src/engine/plan/steps.ts';
import { poolView } from '../../../src/engine/plan/workers.ts';
import { cluster, desired, FROM, imageDrift, machine, NEW_IMAGE, node, RUN, TO } from '../builders.ts';

const AT = new Date('2026-06-01T00:00:00Z');

/** A control plane already at the target (three machines) and worker pools of old machines. */
function world(pools: Record<string, number>): Snapshot {
  const s = cluster(['cp-a', 'cp-b', 'cp-c'], AT);
  const cp = {
    ...s,
    nodes: s.nodes.map((n) => ({ ...n, kubeletVersion: TO })),
    machines: s.machines.map((m) => ({ ...m, imageId: NEW_IMAGE, drift: [] })),
  };
  const nodes: NodeView[] = [];
  const machines: Machine[] = [];
  for (const [pool, size] of Object.entries(pools)) {
    for (let i = 0; i < size; i++) {
      const name = `${pool}-${i}`;
      machines.push(machine(name, { pool, launchedAt: new Date(Date.UTC(2026, 0, 1, 0, i)) }));
      nodes.push(node(name, { controlPlane: false, staticPods: {} }));
    }
  }
  return { ...cp, nodes: [...cp.nodes, ...nodes], workerMachines: machines };
}

const input = (snapshot: Snapshot, pools: PoolSpec[], over: Partial<PlanInput> = {}): PlanInput => ({
  snapshot,
  desired: desired(),
  runId: RUN,
  gateStreak: 3,
  gatePasses: 3,
  machineTimeoutMs: 600_000,
  maxSurge: 1,
  pools,
  ...over,
});

const pool = (name: string, maxSurge: PoolSpec['maxSurge'], maxUnavailable: PoolSpec['maxUnavailable']): PoolSpec => ({
  name,
  maxSurge,
  maxUnavailable,
});
const stepOf = (d: Decision): Step => {
  assert.equal(d.kind, 'step', JSON.stringify(d));
  return (d as Extract<Decision, { kind: 'step' }>).step;
};

/** Applies a step the way the cluster and provider would (the replacement boots Ready on the next pass). */
function applyStep(s: Snapshot, step: Step | undefined, boot: boolean): Snapshot {
  const nodes = s.nodes.map((n) => ({ ...n, annotations: { ...n.annotations } }));
  let machines = [...(s.workerMachines ?? [])];
  const nodeNamed = (name: string) => nodes.find((n) => n.name === name)!;
  if (step)
    switch (step.kind) {
      case 'create-replacement': {
        const r = machine(`r-${step.oldNode}-${step.attempt}`, {
          pool: step.old.pool,
          imageId: NEW_IMAGE,
          replaces: step.old.id,
          runId: RUN,
          launchedAt: s.at,
        });
        machines.push({ ...r, drift: imageDrift(r, desired()) });
        break;
      }
      case 'drain-worker': {
        const n = nodeNamed(step.node);
        n.unschedulable = true;
        n.annotations[RETIRING_ANNOTATION] = RUN;
        n.annotations[DRAINED_ANNOTATION] = RUN;
        if (step.scaleDownWas !== undefined) n.annotations[SCALE_DOWN_WAS_ANNOTATION] = step.scaleDownWas;
        break;
      }
      case 'terminate':
        machines = machines.map((m) => (m.id === step.machineId ? { ...m, phase: 'gone' as const } : m));
        nodeNamed(step.node).ready = false;
        break;
      case 'delete-node': {
        const gone = nodeNamed(step.node);
        nodes.splice(nodes.indexOf(gone), 1);
        machines = machines.filter((m) => m.providerId !== gone.providerId);
        break;
      }
      default:
        assert.fail(`unexpected step ${step.kind}`);
    }
  // Replacements without a Node boot (register Ready) when `boot`.
  if (boot) {
    for (const m of machines) {
      if (m.runId === RUN && m.phase === 'running' && !nodes.some((n) => n.providerId === m.providerId)) {
        nodes.push(
          node(m.id.slice(2), { controlPlane: false, staticPods: {}, providerId: m.providerId, kubeletVersion: TO }),
        );
      }
    }
  }
  return { ...s, at: new Date(s.at.getTime() + 1000), nodes, workerMachines: machines };
}

/** Runs the planner to done, booting replacements on every other pass; checks the pool's limits every pass. */
function rollOut(s0: Snapshot, pools: PoolSpec[]) {
  let s = s0;
  const steps: string[] = [];
  const peak = { live: 0, unavailable: 0, inFlightOld: 0 };
  for (let pass = 0; pass < 500; pass++) {
    for (const spec of pools) {
      const v = poolView(s, spec, { desired: desired(), runId: RUN });
      const size = (s0.workerMachines ?? []).filter((m) => m.pool === spec.name).length;
      assert.ok(v.liveMachines <= size + v.fenceposts.maxSurge, `pool ${spec.name}: ${v.liveMachines} live machines`);
      assert.ok(v.unavailable <= v.fenceposts.maxUnavailable, `pool ${spec.name}: ${v.unavailable} unavailable`);
      peak.live = Math.max(peak.live, v.liveMachines - size);
      peak.unavailable = Math.max(peak.unavailable, v.unavailable);
    }
    const d = plan(input(s, pools));
    if (d.kind === 'done') return { s, steps, peak };
    if (d.kind === 'wait') {
      s = applyStep(s, undefined, true);
      continue;
    }
    const step = stepOf(d);
    steps.push(`${step.kind} ${d.kind === 'step' ? d.machine : ''}`);
    s = applyStep(s, step, pass % 2 === 1);
  }
  assert.fail('did not finish');
}

describe('worker pool planner', () => {
  it('surge 2 / unavailable 0: two replacements first, then the old machines leave, batch by batch', () => {
    const { s, steps, peak } = rollOut(world({ blue: 4 }), [pool('blue', 2, 0)]);
    assert.deepEqual(steps.slice(0, 2), ['create-replacement blue-0', 'create-replacement blue-1']);
    assert.equal(peak.live, 2);
    assert.equal(peak.unavailable, 0);
    const workers = s.nodes.filter((n) => !n.controlPlane);
    assert.equal(workers.length, 4);
    assert.ok(workers.every((n) => n.kubeletVersion === TO));
    // The next batch starts only once the first batch's old machines are gone.
    const thirdCreate = steps.indexOf('create-replacement blue-2');
    assert.ok(thirdCreate > steps.indexOf('delete-node blue-0') && thirdCreate > steps.indexOf('delete-node blue-1'));
  });

  it('surge 0 / unavailable 1: drain and terminate first, then the replacement, one at a time', () => {
    const { s, steps, peak } = rollOut(world({ green: 3 }), [pool('green', 0, 1)]);
    assert.deepEqual(steps.slice(0, 4), [
      'drain-worker green-0',
      'terminate green-0',
      'create-replacement green-0',
      'delete-node green-0',
    ]);
    assert.equal(peak.live, 0);
    assert.equal(peak.unavailable, 1);
    assert.equal(s.nodes.filter((n) => !n.controlPlane && n.kubeletVersion === TO).length, 3);
  });

  it('percentages: 50% surge of 3 rounds up to 2, 34% unavailable rounds down to 1', () => {
    const { peak } = rollOut(world({ p: 3 }), [pool('p', '50%', '34%')]);
    assert.equal(peak.live, 2);
    assert.ok(peak.unavailable <= 1);
  });

  it('pools in the configured order: the second starts when the first is done', () => {
    const { steps } = rollOut(world({ a: 2, b: 2 }), [pool('b', 1, 0), pool('a', 1, 0)]);
    const firstA = steps.findIndex((x) => x.endsWith(' a-0') || x.endsWith(' a-1'));
    const lastB = steps.findLastIndex((x) => x.endsWith(' b-0') || x.endsWith(' b-1'));
    assert.ok(lastB < firstA, steps.join('\n'));
  });

  it('workers are never newer than the control plane: blocked while a control-plane kubelet is behind', () => {
    const s = world({ blue: 2 });
    const behind = { ...s, nodes: s.nodes.map((n) => (n.name === 'cp-b' ? { ...n, kubeletVersion: FROM } : n)) };
    const d = plan(input(behind, [pool('blue', 1, 0)], { scope: 'workers' }));
    assert.equal(d.kind, 'blocked');
    assert.equal(d.kind === 'blocked' && d.code, 'skew.control-plane-behind');
    assert.match(d.kind === 'blocked' ? d.reason : '', /cp-b runs v1\.36\.3/);
  });

  it('--control-plane-only leaves the pools alone', () => {
    assert.equal(plan(input(world({ blue: 2 }), [pool('blue', 1, 0)], { scope: 'control-plane' })).kind, 'done');
  });

  it('a replacement not Ready within the machine timeout is rolled back before any other drain', () => {
    let s = world({ blue: 3 });
    s = applyStep(s, stepOf(plan(input(s, [pool('blue', 2, 0)]))), false);
    s = applyStep(s, stepOf(plan(input(s, [pool('blue', 2, 0)]))), false);
    const late = { ...s, at: new Date(s.at.getTime() + 700_000) };
    const step = stepOf(plan(input(late, [pool('blue', 2, 0)])));
    assert.equal(step.kind, 'rollback');
    assert.equal(step.kind === 'rollback' && step.members.length, 0);
    assert.equal(step.kind === 'rollback' && step.oldRetired, false);
  });

  it('surge 1 / unavailable 1: one replacement surged and one machine drained in the same batch, autoscaler value kept', () => {
    let s = world({ green: 2 });
    s = {
      ...s,
      nodes: s.nodes.map((n) =>
        n.name === 'green-1'
          ? { ...n, annotations: { 'cluster-autoscaler.kubernetes.io/scale-down-disabled': 'false' } }
          : n,
      ),
    };
    const drain = stepOf(plan(input(s, [pool('green', 1, 1)])));
    // Surge 1 first: the create; then the unavailable slot opens for green-1.
    assert.equal(drain.kind, 'create-replacement');
    s = applyStep(s, drain, false);
    const second = stepOf(plan(input(s, [pool('green', 1, 1)])));
    assert.equal(second.kind === 'drain-worker' && second.node, 'green-1');
    // green-1's own value is what the drain records to restore (not green-0's, not a default).
    assert.equal(second.kind === 'drain-worker' && second.scaleDownWas, 'false');
  });

  it('resumes without a duplicate: a replacement found for a machine is not created again', () => {
    let s = world({ blue: 2 });
    s = applyStep(s, stepOf(plan(input(s, [pool('blue', 1, 0)]))), false);
    // Same state seen again (a re-run after kill -9): it waits for the replacement, no second create.
    const d = plan(input(s, [pool('blue', 1, 0)]));
    assert.equal(d.kind, 'wait');
    assert.match(d.kind === 'wait' ? d.reason : '', /replacement i-r-blue-0-1 of blue-0: Node not registered yet/);
  });

  it('an attempt after a rollback carries the next attempt number (a new idempotency token)', () => {
    let s = world({ blue: 1 });
    s = applyStep(s, stepOf(plan(input(s, [pool('blue', 1, 0)]))), false);
    s = { ...s, workerMachines: s.workerMachines!.map((m) => (m.runId ? { ...m, phase: 'gone' as const } : m)) };
    const step = stepOf(plan(input(s, [pool('blue', 1, 0)])));
    assert.equal(step.kind === 'create-replacement' && step.attempt, 2);
  });
});
