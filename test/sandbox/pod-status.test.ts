import assert from 'node:assert/strict';
import { MirrorPodStatus } from '../../integration/sandbox/pod-status.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timings = { reportMs: 300, attemptMs: 40, retryMs: 5 };

/**
 * One mirror pod behind an API server, written as setMirrorPodReady does: a read, then (while the attempt is live) a
 * write conditional on the version read.
 */
class FakePod {
  version = 1;
  ready = true;
  readonly landed: boolean[] = [];
  /** Requests held (an API server whose etcd is gone) until the test lets them go. */
  readonly held: Array<() => void> = [];
  /** Hold the next write's read, or its write. */
  holdNextRead = 0;
  holdNext = 0;
  failAll = false;

  write = async (_pod: string, ready: boolean, live: () => boolean): Promise<void> => {
    if (this.holdNextRead > 0) {
      this.holdNextRead--;
      await new Promise<void>((release) => this.held.push(release));
    }
    const read = this.version;
    if (!live()) throw new Error('given up: not written');
    if (this.failAll) throw new Error('connection refused');
    if (this.holdNext > 0) {
      this.holdNext--;
      await new Promise<void>((release) => this.held.push(release));
    } else {
      await wait(2);
    }
    if (this.version !== read) throw new Error('409 Conflict: the object has been modified');
    this.version++;
    this.ready = ready;
    this.landed.push(ready);
  };
}

/** The reporter writing through the fake pod (no API client, no daemon log). */
const reporterOf = (pod: FakePod) =>
  new MirrorPodStatus(
    () => assert.fail('no API client in this test'),
    () => {},
    timings,
    pod.write,
  );

describe('sandbox MirrorPodStatus', () => {
  // The crash report's attempt is held by the crashed member's own API server, at its read or at its write, and let go
  // once the heal's Ready was written: it must not write False on top of it (its read is older, or answered too late).
  for (const { held, title } of [
    {
      held: 'write',
      title: "a crash report held by an API server never lands after the heal's Ready (the pod ends Ready)",
    },
    {
      held: 'read',
      title: "a crash report whose read is answered after the heal's Ready was written does not write from it",
    },
  ] as const) {
    it(title, async () => {
      const pod = new FakePod();
      const status = reporterOf(pod);
      if (held === 'write') pod.holdNext = 1;
      else pod.holdNextRead = 1;
      const crash = status.report('etcd-a', false);
      await wait(5);
      const heal = status.report('etcd-a', true);
      await Promise.all([crash, heal]);
      assert.equal(pod.ready, true);
      pod.held.shift()!();
      await wait(10);
      assert.equal(pod.ready, true);
      assert.deepEqual(pod.landed, [true]);
    });
  }

  it('a report made while a write is under way is written after it, so the latest report stands', async () => {
    const pod = new FakePod();
    const status = reporterOf(pod);
    const crash = status.report('etcd-a', false);
    const heal = status.report('etcd-a', true);
    await Promise.all([crash, heal]);
    assert.deepEqual(pod.landed, [false, true]);
    assert.equal(pod.ready, true);
  });

  it('each pod is written on its own: a held write of one does not hold up another', async () => {
    const pod = new FakePod();
    // Attempts long enough that the held write is never given up while this test runs: only its release ends it.
    const status = new MirrorPodStatus(
      () => assert.fail('no API client'),
      () => {},
      { ...timings, attemptMs: 60_000 },
      pod.write,
    );
    pod.holdNext = 1;
    const held = status.report('etcd-a', false).then(() => 'etcd-a');
    const other = status.report('kube-apiserver-a', false).then(() => 'kube-apiserver-a');
    assert.equal(await Promise.race([held, other]), 'kube-apiserver-a');
    pod.held.shift()!();
    assert.equal(await held, 'etcd-a');
  });

  it('gives up after the report time without a write getting through, counted from the latest report', async () => {
    const pod = new FakePod();
    pod.failAll = true;
    const status = reporterOf(pod);
    const started = Date.now();
    const first = status.report('etcd-a', false);
    await wait(150);
    const second = status.report('etcd-a', true);
    await assert.rejects(first, /connection refused/);
    await assert.rejects(second, /connection refused/);
    const took = Date.now() - started;
    assert.ok(
      took >= 150 + timings.reportMs - timings.retryMs,
      `gave up after ${took} ms, not before the later report's time`,
    );
  });
});
