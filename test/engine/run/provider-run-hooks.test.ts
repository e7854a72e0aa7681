import assert from 'node:assert/strict';
import { KubeswapError } from '../../../src/domain/errors.ts';
import { readProgress } from '../../../src/engine/run/progress.ts';
import { apply } from '../../../src/engine/run/run.ts';
import type { RunHooks } from '../../../src/ports/machines.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const options = APPLY_OPTIONS;
const request = { version: TO, force: false };

/** Run hooks that log what they are called with; `refuse` throws before recording, as a busy group does. */
function hooked(world: FakeWorld, behaviour: { refuse?: boolean; restored?: boolean } = {}) {
  const seen: { begin: unknown[]; pools: unknown[]; end: { saved: unknown; finished: boolean }[] } = {
    begin: [],
    pools: [],
    end: [],
  };
  const run: RunHooks = {
    async begin({ saved, record, pools }) {
      seen.begin.push(saved);
      seen.pools.push(pools);
      world.calls.push('run.begin');
      if (behaviour.refuse) throw new KubeswapError('blocked', 'asg.instance-refresh', 'a refresh is in progress');
      await record(saved ?? { sizes: [3, 3, 3] });
      world.calls.push('run.changed');
    },
    async end({ saved, finished }) {
      seen.end.push({ saved, finished });
      world.calls.push('run.end');
      return { restored: behaviour.restored ?? true, message: 'restored' };
    },
  };
  world.provider = { ...world.provider, run };
  return seen;
}

describe('provider run hooks in apply', () => {
  it('records the undo state before the first swap and restores at the end, marking the record restored', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const seen = hooked(world);
    await apply(world.ports(), request, options);
    assert.deepEqual(seen.begin, [undefined]);
    assert.deepEqual(seen.end, [{ saved: { sizes: [3, 3, 3] }, finished: true }]);
    const order = (c: string) => world.calls.findIndex((x) => x.startsWith(c));
    assert.ok(order('run.changed') < order('createReplacement'));
    assert.ok(order('run.end') > world.calls.findLastIndex((x) => x.startsWith('terminate')));
    const record = await readProgress(world.kube);
    assert.equal(record?.state, 'finished');
    assert.equal(record?.providerRestored, true);
    assert.ok(world.log.codes().includes('provider.run-restored'));
  });

  it('a refusal before recording changes nothing, is exit class blocked, and undoes nothing', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const seen = hooked(world, { refuse: true });
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'blocked');
    assert.equal(err.code, 'asg.instance-refresh');
    assert.deepEqual(seen.end, []);
    assert.ok(!world.calls.some((c) => c.startsWith('createReplacement')));
    assert.equal(await readProgress(world.kube), undefined);
  });

  it('restores after a rolled-back replacement too (finished: false)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const seen = hooked(world);
    world.pendingFault = 'never-boots';
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'rolled-back');
    assert.deepEqual(seen.end, [{ saved: { sizes: [3, 3, 3] }, finished: false }]);
    // The resumed run takes a new baseline: the group was restored, and may have changed since (a user's suspension).
    const again = hooked(world);
    await apply(world.ports(), request, options);
    assert.deepEqual(again.begin, [undefined]);
  });

  it('a re-run of a run killed after its last swap is not "nothing to do": it restores with the recorded state', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const first = hooked(world, { restored: false });
    // A group the provider could not restore is something left behind: the verification fails the run (exit 4).
    const unrestored = await failure(apply(world.ports(), request, options));
    assert.equal(unrestored.code, 'verify.failed');
    assert.match(unrestored.message, /provider\.restored/);
    assert.equal(first.end.length, 1);
    // As after a kill -9 before the end: the record still says running and not restored.
    const record = (await readProgress(world.kube))!;
    const cm = world.configMaps.get('kube-system/kubeswap-progress')!;
    cm.data['progress'] = JSON.stringify({ ...record, state: 'running', providerRestored: false });
    const again = hooked(world);
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assert.equal(outcome.swaps, 0);
    assert.deepEqual(again.begin, [{ sizes: [3, 3, 3] }]);
    assert.deepEqual(again.end, [{ saved: { sizes: [3, 3, 3] }, finished: true }]);
    assert.equal(
      (await apply(world.ports(), request, options)).result,
      'nothing-to-do',
      'once restored, the next run has nothing to do',
    );
  });

  it('tells the provider which pools the run replaces machines in (its scope), so it changes only those', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const seen = hooked(world);
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    await apply(world.ports(), request, { ...options, pools, scope: 'control-plane' });
    assert.deepEqual(seen.pools, [['control-plane']]);
  });

  it("an abandoned run's unrestored changes are handed to the next run (another run id), which restores them", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const first = hooked(world, { restored: false });
    await failure(apply(world.ports(), request, options));
    assert.equal(first.end.length, 1);
    const record = (await readProgress(world.kube))!;
    const cm = world.configMaps.get('kube-system/kubeswap-progress')!;
    cm.data['progress'] = JSON.stringify({ ...record, state: 'abandoned', providerRestored: false });
    const again = hooked(world);
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.result, 'done', 'not "nothing to do": the groups are still held');
    assert.notEqual(outcome.runId, record.runId);
    assert.deepEqual(again.begin, [{ sizes: [3, 3, 3] }], "the abandoned run's baseline, not a new one");
    assert.deepEqual(again.end, [{ saved: { sizes: [3, 3, 3] }, finished: true }]);
    assert.equal((await readProgress(world.kube))?.providerRestored, true);
  });
});
