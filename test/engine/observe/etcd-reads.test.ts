import assert from 'node:assert/strict';
import type { KubeswapError } from '../../../src/domain/errors.ts';
import type { EtcdView } from '../../../src/domain/model.ts';
import { EtcdReads } from '../../../src/engine/observe/etcd-reads.ts';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import { joinAwaitsOnlyKube } from '../../../src/engine/plan/decisions.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/engine/ports.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { member, node, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const view: EtcdView = { members: [], alarms: [], endpoints: [] };

/** The run's ports, noting when etcd's member list is read and when a step of `step`'s kind is planned. */
function traced(world: FakeWorld, step: string) {
  const ports = world.ports();
  const reads: number[] = [];
  ports.etcd = {
    ...ports.etcd,
    memberList: () => {
      reads.push(world.now);
      return world.etcd.memberList();
    },
  };
  const steps: number[] = [];
  const sink = ports.emit;
  ports.emit = (event) => {
    if (event.code === 'plan.step' && event.data?.['step'] === step) steps.push(world.now);
    sink(event);
  };
  return { ports, reads, steps };
}

describe('EtcdReads: the etcd view between passes', () => {
  it('stands only while the plan waits on Kubernetes or the provider alone, within the slow interval', () => {
    const reads = new EtcdReads(5000);
    reads.remember(0, view);
    assert.equal(reads.reusable(1000), undefined, 'not while the plan waits on anything else');
    reads.waiting(true);
    assert.equal(reads.reusable(4999), view);
    assert.equal(reads.reusable(5000), undefined, 'the slow interval passed');
    reads.waiting(false);
    assert.equal(reads.reusable(1000), undefined, 'the plan waits on etcd again');
    reads.waiting(true);
    reads.forget();
    assert.equal(reads.reusable(1000), undefined, 'a step of ours since');
  });

  it('a join awaits only Kubernetes before its Node exists, or once its member is a healthy voter', () => {
    const voter = member('cp-new');
    const learner = member('cp-new', { isLearner: true });
    const at = (healthy: boolean): Snapshot =>
      ({
        etcd: { members: [voter], alarms: [], endpoints: [{ endpoint: 'e', memberId: voter.id, healthy, tookMs: 1 }] },
      }) as unknown as Snapshot;
    const rNode = node('cp-new', { ready: false });
    assert.equal(joinAwaitsOnlyKube(at(true), undefined, undefined), true, 'booting: no Node yet');
    assert.equal(joinAwaitsOnlyKube(at(true), rNode, voter), true, 'only the Node and its pods are awaited');
    assert.equal(joinAwaitsOnlyKube(at(false), rNode, voter), false, 'the member is not healthy yet');
    assert.equal(joinAwaitsOnlyKube(at(true), rNode, learner), false, 'the member is still a learner');
    assert.equal(joinAwaitsOnlyKube(at(true), rNode, undefined), false, 'the member has not started');
  });

  it('over a run: etcd is read at the slow interval while a replacement boots, and every swap still completes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const bootMs = 40_000;
    // Each replacement registers its Node and member only bootMs after its launch.
    world.onSleep = () => {
      world.pendingFault = 'never-boots';
      for (const m of world.machines) {
        if (!m.replaces) continue;
        if (world.now - m.launchedAt.getTime() < bootMs) world.faults.set(m.id, 'never-boots');
        else world.faults.delete(m.id);
      }
    };
    world.pendingFault = 'never-boots';
    const ports = world.ports();
    let memberLists = 0;
    const booting: number[] = [];
    ports.etcd = {
      ...ports.etcd,
      memberList: () => {
        memberLists++;
        const replacement = world.machines.find((m) => m.replaces && !world.nodes.has(`node-${m.id}`));
        if (replacement && world.now - replacement.launchedAt.getTime() < bootMs) booting.push(world.now);
        return world.etcd.memberList();
      },
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    const outcome = await apply(ports, { version: TO, force: false }, options);
    assert.equal(outcome.swaps, 3);
    // 40 passes a second apart per boot: read at the slow interval (15 s), plus the pass right after the create step.
    assert.ok(booting.length <= 3 * 3, `${booting.length} member lists while booting: ${booting.join(', ')}`);
    assert.ok(booting.length >= 3 * 2, `the slow read still happens: ${booting.length}`);
    assert.ok(memberLists > booting.length);
  });
  it('a rollback is never planned from a reused etcd view: the pass that plans it read the member list afresh', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    // The replacement never boots; the machine timeout (3 s) falls inside the 5 s an etcd view may stand.
    world.pendingFault = 'never-boots';
    const { ports, reads, steps: rollbacks } = traced(world, 'rollback');
    const options = {
      ...DEFAULT_ENGINE_OPTIONS,
      gatePasses: 1,
      pollIntervalMs: 1000,
      machineTimeoutMs: 3000,
      snapshotDir: '/tmp',
    };
    await assert.rejects(apply(ports, { version: TO, force: false }, options), (err: KubeswapError) => {
      assert.equal(err.failure, 'rolled-back');
      return true;
    });
    assert.ok(rollbacks.length >= 1, 'the replacement was rolled back');
    for (const at of rollbacks) assert.ok(reads.includes(at), `the rollback at ${at} was planned without a fresh read`);
  });

  for (const notReadyMs of [4_000, 0]) {
    it(`a join judged on a fresh read at once, Node changes that settle nothing cost no read, and the gate after it counts only passes after the join (Node Ready ${notReadyMs / 1000} s after it registers)`, async () => {
      const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
      const bootMs = 20_000;
      // The replacement registers its Node and member bootMs after its launch; the Node turns Ready notReadyMs later.
      const joined = new Map<string, number>();
      const ready = new Map<string, number>();
      world.onSleep = () => {
        world.pendingFault = 'never-boots';
        for (const m of world.machines) {
          if (!m.replaces) continue;
          const age = world.now - m.launchedAt.getTime();
          if (age < bootMs) world.faults.set(m.id, 'never-boots');
          else world.faults.delete(m.id);
          const n = world.nodes.get(`node-${m.id}`);
          if (!n) continue;
          if (!joined.has(m.id)) joined.set(m.id, world.now);
          const isReady = world.now - joined.get(m.id)! >= notReadyMs;
          if (isReady && !ready.has(m.id)) ready.set(m.id, world.now);
          world.nodes.set(n.name, { ...n, ready: isReady });
        }
      };
      world.pendingFault = 'never-boots';
      const { ports, reads, steps: registered } = traced(world, 'register-target');
      const pollIntervalMs = 1000;
      const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs, snapshotDir: '/tmp' };
      const outcome = await apply(ports, { version: TO, force: false }, options);
      assert.equal(outcome.swaps, 3);
      const replacements = world.machines.filter((m) => m.replaces);
      assert.equal(replacements.length, 3);
      for (const [i, r] of replacements.entries()) {
        const joinedAt = joined.get(r.id)!;
        const readyAt = ready.get(r.id)!;
        assert.ok(reads.includes(joinedAt), `swap ${i + 1}: the pass that saw the Node read etcd (a new member)`);
        // The pass that sees the Node reads etcd (its member is new), the passes while only the Node is not Ready do not.
        const between = reads.filter((t) => t > joinedAt && t < readyAt);
        assert.deepEqual(between, [], `swap ${i + 1}: etcd read while only the Node was awaited`);
        assert.ok(reads.includes(readyAt), `swap ${i + 1}: the pass that saw the join done read etcd afresh`);
        // Two gate passes a poll interval apart, both after the join: the passes during the boot (gate ok: no member,
        // no Node yet) do not count.
        assert.equal(registered[i], readyAt + pollIntervalMs, `swap ${i + 1}: registered at ${registered[i]}`);
      }
    });
  }
});
