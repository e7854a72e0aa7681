// The drain's wait for evicted pods follows them with a watch; the client's reconnect (after an API server left the
// load balancer) restarts that watch from the last resourceVersion it saw, rather than leaving it pinned to a
// connection that may have died without closing (issue 15 §2).
import assert from 'node:assert/strict';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { awaitPodsGone, type PodWatchClient } from '../../../src/adapters/kube/pods.ts';
import type { KubeApis } from '../../../src/adapters/kube/transport.ts';

const pod = (name: string, resourceVersion: string): V1Pod => ({
  metadata: { namespace: 'apps', name, uid: `uid-${name}`, resourceVersion },
  spec: { nodeName: 'cp-a', containers: [] },
});

/** A watch client whose requests the test answers: each call's params, its event and done callbacks, its abort. */
function fakeWatches() {
  const calls: {
    params: Record<string, unknown>;
    event: (phase: string, obj: V1Pod) => void;
    done: (err: unknown) => void;
    aborted: boolean;
  }[] = [];
  const client: PodWatchClient = {
    watch: (async (_path: string, params: Record<string, unknown>, event: never, done: never) => {
      const call = { params, event, done, aborted: false };
      calls.push(call);
      const controller = new AbortController();
      controller.signal.addEventListener('abort', () => {
        call.aborted = true;
      });
      return controller;
    }) as unknown as PodWatchClient['watch'],
  };
  return { calls, client };
}

const apisListing = (items: V1Pod[], resourceVersion: string) =>
  ({
    core: { listPodForAllNamespaces: async () => ({ items, metadata: { resourceVersion } }) },
  }) as unknown as KubeApis;

const tick = () => new Promise((r) => setImmediate(r));

describe('awaitPodsGone: the drain watch', () => {
  it('is restarted on reconnect from the last resourceVersion it saw, and answers from the new watch', async () => {
    const { calls, client } = fakeWatches();
    const followed: { restart(): void; stop(): void }[] = [];
    let unfollowed = 0;
    const answer = awaitPodsGone(
      {} as KubeConfig,
      apisListing([pod('web-1', '10'), pod('ds-1', '11')], '12'),
      'cp-a',
      ['uid-web-1'],
      {
        timeoutMs: 60_000,
        newWatch: () => client,
        follow: (watch) => {
          followed.push(watch);
          return () => unfollowed++;
        },
      },
    );
    await tick();
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.params['resourceVersion'], '12');
    assert.equal(followed.length, 1, 'registered for the reconnect');
    calls[0]!.event('MODIFIED', pod('web-1', '15')); // terminating
    calls[0]!.event('BOOKMARK', { metadata: { resourceVersion: '17' } });
    followed[0]!.restart(); // the client reconnected: this connection may be pinned to a server that left
    await tick();
    assert.equal(calls[0]!.aborted, true, 'the old watch is ended');
    calls[0]!.done(null); // its end, caused by the restart, is no failure
    assert.equal(calls.length, 2);
    assert.equal(calls[1]!.params['resourceVersion'], '17', 'resumed where the stream was');
    calls[1]!.event('DELETED', pod('web-1', '18'));
    const left = await answer;
    assert.deepEqual(
      left?.map((p) => p.name),
      ['ds-1'],
    );
    assert.equal(unfollowed, 1, 'unregistered once over');
    assert.equal(calls[1]!.aborted, true, 'no watch left open');
  });

  it("follows on from the drain's own list (its resourceVersion) without listing again", async () => {
    const { calls, client } = fakeWatches();
    const noList = {
      core: {
        listPodForAllNamespaces: async () => assert.fail('listed again'),
      },
    } as unknown as KubeApis;
    const web = {
      namespace: 'apps',
      name: 'web-1',
      uid: 'uid-web-1',
      daemonSet: false,
      mirror: false,
      phase: 'Running',
      labels: {},
    };
    const answer = awaitPodsGone({} as KubeConfig, noList, 'cp-a', ['uid-web-1'], {
      timeoutMs: 60_000,
      newWatch: () => client,
      from: { pods: [web], resourceVersion: '21' },
    });
    await tick();
    assert.equal(calls[0]!.params['resourceVersion'], '21', 'the watch replays from the list the evictions followed');
    calls[0]!.event('DELETED', pod('web-1', '23'));
    assert.deepEqual(await answer, []);
  });

  it('answers undefined (the drain polls) when the resumed watch fails, e.g. 410 Gone', async () => {
    const { calls, client } = fakeWatches();
    let restart!: () => void;
    const answer = awaitPodsGone({} as KubeConfig, apisListing([pod('web-1', '10')], '12'), 'cp-a', ['uid-web-1'], {
      timeoutMs: 60_000,
      newWatch: () => client,
      follow: (watch) => {
        restart = watch.restart;
        return () => {};
      },
    });
    await tick();
    restart();
    await tick();
    calls[1]!.event('ERROR', { metadata: {} });
    assert.equal(await answer, undefined);
  });

  it('ends when the client closes (stop), answering undefined', async () => {
    const { calls, client } = fakeWatches();
    let stop!: () => void;
    const answer = awaitPodsGone({} as KubeConfig, apisListing([pod('web-1', '10')], '12'), 'cp-a', ['uid-web-1'], {
      timeoutMs: 60_000,
      newWatch: () => client,
      follow: (watch) => {
        stop = watch.stop;
        return () => {};
      },
    });
    await tick();
    stop();
    assert.equal(await answer, undefined);
    assert.equal(calls[0]!.aborted, true);
  });
});
