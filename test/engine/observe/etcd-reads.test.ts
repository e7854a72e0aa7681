import assert from 'node:assert/strict';
import type { KubeswapError } from '../../../src/domain/errors.ts';
import type { EtcdView, NodeView } from '../../../src/domain/model.ts';
import { EtcdReads } from '../../../src/engine/observe/etcd-reads.ts';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import { joinAwaitsOnlyKube } from '../../../src/engine/plan/decisions.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/engine/ports.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { member, node, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const view: EtcdView = { members: [], alarms: [], endpoints: [] };
const nodes: NodeView[] = [node('cp-a'), node('cp-b')];

describe('EtcdReads: the etcd view between passes', () => {
  it('stands only while the plan waits for a booting Node, for the same Nodes, within the slow interval', () => {
    const reads = new EtcdReads(5000);
    reads.remember(0, nodes, view);
    assert.equal(reads.reusable(1000, nodes), undefined, 'not while the plan waits on anything else');
    reads.waiting(true);
    assert.equal(reads.reusable(4999, nodes), view);
    assert.equal(reads.reusable(5000, nodes), undefined, 'the slow interval passed');
    assert.equal(reads.reusable(1000, [...nodes, node('cp-new')]), undefined, 'a Node registered');
    assert.equal(reads.reusable(1000, [node('cp-a', { ready: false }), nodes[1]!]), undefined, 'a Node changed');
    reads.waiting(false);
    assert.equal(reads.reusable(1000, nodes), undefined, 'the plan waits on etcd again');
    reads.waiting(true);
    reads.forget();
    assert.equal(reads.reusable(1000, nodes), undefined, 'a step of ours since');
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
    const bootMs = 12_000;
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
    // 12 passes a second apart per boot: read at most every 5 s (plus the pass right after the create step).
    assert.ok(booting.length <= 3 * 4, `${booting.length} member lists while booting: ${booting.join(', ')}`);
    assert.ok(booting.length >= 3 * 3, `the slow read still happens: ${booting.length}`);
    assert.ok(memberLists > booting.length);
  });
  it('a rollback is never planned from a reused etcd view: the pass that plans it read the member list afresh', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    // The replacement never boots; the machine timeout (3 s) falls inside the 5 s an etcd view may stand.
    world.pendingFault = 'never-boots';
    const ports = world.ports();
    const reads: number[] = [];
    ports.etcd = {
      ...ports.etcd,
      memberList: () => {
        reads.push(world.now);
        return world.etcd.memberList();
      },
    };
    const rollbacks: number[] = [];
    const sink = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step' && event.data?.['step'] === 'rollback') rollbacks.push(world.now);
      sink(event);
    };
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
});
