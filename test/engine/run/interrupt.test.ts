// An interrupt (Ctrl-C, a CI cancel's SIGINT then SIGTERM) while a step waits: the provider's wait for a target's
// draining or a machine's end, or the drain, ends at once, the run ends as interrupted (exit 130) with its lock
// released, and the re-run finds the step half done and finishes the upgrade.
import assert from 'node:assert/strict';
import { act } from '../../../src/engine/act/act.ts';
import { apply } from '../../../src/engine/run/run.ts';
import type { ProviderWait } from '../../../src/ports/machines.ts';
import { APPLY_OPTIONS, desired, RUN, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const request = { version: TO, force: false };
const LOCK = 'kube-system/kubeswap-lock';

/** A wait that lasts until the run is interrupted (a 300 s deregistration delay, a termination held by a hook). */
function untilInterrupted(wait: ProviderWait | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    const signal = wait?.signal;
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

describe('apply interrupted while the provider waits', () => {
  it('ends during the deregistration delay as interrupted, lock released; the re-run waits it out and finishes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const interrupt = new AbortController();
    const deregister = world.provider.loadBalancer!.deregister;
    world.provider.loadBalancer!.deregister = async (id, timeoutMs, wait) => {
      if (interrupt.signal.aborted) return deregister(id, timeoutMs, wait);
      world.targets.set(id, 'draining');
      interrupt.abort(new Error('interrupted'));
      return untilInterrupted(wait);
    };
    const err = await failure(apply(world.ports(), request, APPLY_OPTIONS, interrupt.signal));
    assert.deepEqual([err.failure, err.code], ['interrupted', 'run.interrupted']);
    assert.ok(world.leases.has(LOCK), 'the run took the lock');
    assert.equal(world.leases.get(LOCK)?.holderIdentity, undefined, 'the lock is released, not left to expire');
    assert.ok(world.log.codes().includes('lock.released'));
    assert.equal(world.targets.get('i-cp-a'), 'draining', 'the target drains on');

    const outcome = await apply(world.ports(), request, APPLY_OPTIONS);
    assert.equal(outcome.result, 'done');
    assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
    assert.equal(world.machines.filter((m) => m.replaces).length, 3, 'no duplicate replacement');
  });

  it('ends during a foreground termination as interrupted, lock released; the re-run terminates and finishes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const interrupt = new AbortController();
    const terminate = world.provider.terminate;
    world.provider.terminate = async (id, timeoutMs, wait) => {
      if (interrupt.signal.aborted) return terminate(id, timeoutMs, wait);
      interrupt.abort(new Error('interrupted'));
      return untilInterrupted(wait);
    };
    const err = await failure(apply(world.ports(), request, APPLY_OPTIONS, interrupt.signal));
    assert.deepEqual([err.failure, err.code], ['interrupted', 'run.interrupted']);
    assert.equal(world.leases.get(LOCK)?.holderIdentity, undefined);

    const outcome = await apply(world.ports(), request, APPLY_OPTIONS);
    assert.equal(outcome.result, 'done');
    assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
    assert.equal(world.machines.filter((m) => m.replaces).length, 3);
  });

  it('reports a provider error that wraps the interrupt as the interrupt, not as an internal failure', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const interrupt = new AbortController();
    world.provider.loadBalancer!.deregister = async (_id, _timeoutMs, wait) => {
      interrupt.abort(new Error('interrupted'));
      await untilInterrupted(wait).catch((cause: unknown) => {
        throw new Error(`failed to deregister API target: ${String(cause)}`, { cause });
      });
    };
    const err = await failure(apply(world.ports(), request, APPLY_OPTIONS, interrupt.signal));
    assert.deepEqual([err.failure, err.code], ['interrupted', 'run.interrupted']);
  });
});

describe('apply interrupted: what is not cut short, and what is not the interrupt', () => {
  it('a rollback runs to its end: the failed replacement and its member are gone, exit class rolled-back', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'dies-after-member-add';
    const interrupt = new AbortController();
    const terminate = world.provider.terminate;
    let waitedWithSignal = false;
    world.provider.terminate = async (id, timeoutMs, wait) => {
      interrupt.abort(new Error('interrupted'));
      if (wait?.signal) {
        waitedWithSignal = true;
        return untilInterrupted(wait);
      }
      return terminate(id, timeoutMs, wait);
    };
    const err = await failure(apply(world.ports(), request, APPLY_OPTIONS, interrupt.signal));
    assert.deepEqual([err.failure, err.code], ['rolled-back', 'replacement.rolled-back']);
    assert.equal(waitedWithSignal, false, "the rollback's termination wait is not given the interrupt");
    assert.deepEqual(world.members.map((m) => m.name).sort(), ['cp-a', 'cp-b', 'cp-c']);
    assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
  });

  it('a failure of its own that comes after the interrupt keeps its class, not "re-run to resume"', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const interrupt = new AbortController();
    world.provider.loadBalancer!.deregister = async () => {
      interrupt.abort(new Error('interrupted'));
      throw new Error('target group not found');
    };
    // Thrown as it is: the command line's exit 1 with its message, not exit 130.
    await assert.rejects(
      apply(world.ports(), request, APPLY_OPTIONS, interrupt.signal),
      (err: Error) => err.message === 'target group not found' && (err as { failure?: string }).failure === undefined,
    );
  });
});

describe('act interrupted while a drain waits for a refused eviction', () => {
  it("ends the drain's wait with the interrupt's reason", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.podsOn.set('cp-a', [
      {
        namespace: 'default',
        name: 'db-0',
        uid: 'u-db-0',
        daemonSet: false,
        mirror: false,
        phase: 'Running',
        labels: { app: 'db' },
      },
    ]);
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    // A PodDisruptionBudget refuses the eviction (429) until someone relaxes it; Ctrl-C comes meanwhile.
    world.kube.evictPod = async () => {
      interrupt.abort(reason);
      return 'blocked';
    };
    const ctx = { runId: RUN, desired: desired(), options: APPLY_OPTIONS };
    await assert.rejects(
      act({ kind: 'drain', node: 'cp-a' }, world.ports(), ctx, 'cp-a', interrupt.signal),
      (err) => err === reason,
    );
  });
});

describe('apply interrupted during its verification', () => {
  it('ends as interrupted (exit 130), not as a failed verification (a needs-person exit 4)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const interrupt = new AbortController();
    const ports = world.ports();
    let checks = 0;
    ports.kube = {
      ...ports.kube,
      // The verification's kube-system check finds a pod Pending; Ctrl-C comes while it looks.
      podsInNamespace: async () => {
        checks++;
        interrupt.abort(new Error('interrupted'));
        const node = [...world.nodes.keys()][0]!;
        return [
          {
            namespace: 'kube-system',
            name: 'kube-proxy-x',
            uid: 'x',
            daemonSet: true,
            mirror: false,
            phase: 'Pending',
            labels: {},
            node,
          },
        ];
      },
    };
    const err = await failure(apply(ports, request, APPLY_OPTIONS, interrupt.signal));
    assert.deepEqual([err.failure, err.code], ['interrupted', 'run.interrupted']);
    assert.equal(checks, 1, 'no further check after the interrupt');
  });
});
