import assert from 'node:assert/strict';
import { apply } from '../../../src/engine/run/run.ts';
import { VERIFY_RECHECK_MAX_MS, VERIFY_SETTLE_MS } from '../../../src/engine/run/verify.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const pod = (name: string, node: string, phase: string) => ({
  namespace: 'kube-system',
  name,
  uid: name,
  daemonSet: true,
  mirror: false,
  phase,
  labels: {},
  node,
});

describe('verification: kube-system pods from one list', () => {
  for (const [phase, fails] of [
    ['Pending', true],
    ['Failed', false],
  ] as const) {
    it(`a ${phase} kube-system pod on a Node ${fails ? 'fails' : 'does not fail'} the verification, from one kube-system list`, async () => {
      const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
      const ports = world.ports();
      let lists = 0;
      ports.kube = {
        ...ports.kube,
        // The drain reads the pods of the Node it drains; the verification reads none per Node.
        podsOnNode: (node) =>
          lists > 0 ? assert.fail(`pods of ${node} read during the verification`) : world.kube.podsOnNode(node),
        podsInNamespace: async (namespace, options) => {
          assert.equal(namespace, 'kube-system');
          // Only the phases that fail it, not all of kube-system (a kube-proxy pod per Node on a large cluster).
          assert.deepEqual(options?.phases, ['Pending', 'Unknown']);
          lists++;
          const node = [...world.nodes.keys()][0]!;
          return [pod('kube-proxy-x', node, phase), pod('kube-proxy-y', 'a-node-not-in-the-snapshot', 'Pending')];
        },
      };
      const outcome = apply(ports, { version: TO, force: false }, APPLY_OPTIONS);
      if (fails) {
        const err = (await outcome.then(
          () => assert.fail('apply should fail'),
          (e: unknown) => e,
        )) as { code: string; message: string };
        assert.equal(err.code, 'verify.failed');
        assert.match(err.message, /kube-system\/kube-proxy-x on \S+ is Pending/);
        assert.doesNotMatch(err.message, /kube-proxy-y/);
      } else {
        assert.equal((await outcome).swaps, 3);
      }
      assert.ok(lists >= 1);
    });
  }

  it('a failed check names its first 10 problems and counts the rest (5,000 Pending kube-proxy pods flooded the output)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    ports.kube = {
      ...ports.kube,
      podsInNamespace: async () => {
        const node = [...world.nodes.keys()][0]!;
        return Array.from({ length: 25 }, (_, i) => pod(`kube-proxy-${i}`, node, 'Pending'));
      },
    };
    const err = (await apply(ports, { version: TO, force: false }, APPLY_OPTIONS).then(
      () => assert.fail('apply should fail'),
      (e: unknown) => e,
    )) as { code: string; message: string };
    assert.equal(err.code, 'verify.failed');
    assert.equal(err.message.match(/kube-proxy-\d+ on/g)?.length, 10);
    assert.match(err.message, /; and 15 more/);
  });

  it('re-checks a failing verification at a doubling pause: a handful of reads of every Node, not one per poll interval', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const at: number[] = [];
    ports.kube = {
      ...ports.kube,
      podsInNamespace: async () => {
        at.push(ports.clock.now().getTime());
        return [pod('kube-proxy-x', [...world.nodes.keys()][0]!, 'Pending')];
      },
    };
    const err = (await apply(ports, { version: TO, force: false }, APPLY_OPTIONS).then(
      () => assert.fail('apply should fail'),
      (e: unknown) => e,
    )) as { code: string };
    assert.equal(err.code, 'verify.failed');
    const pauses = at.slice(1).map((t, i) => t - at[i]!);
    // The first re-check after one poll interval (a cluster that settles at once is seen at once), then doubling.
    assert.ok(pauses[0]! >= APPLY_OPTIONS.pollIntervalMs && pauses[0]! < 2 * APPLY_OPTIONS.pollIntervalMs, `${pauses}`);
    assert.ok(
      pauses.every((p) => p < VERIFY_RECHECK_MAX_MS + APPLY_OPTIONS.pollIntervalMs),
      `${pauses}`,
    );
    assert.ok(
      at.at(-1)! - at[0]! >= VERIFY_SETTLE_MS - VERIFY_RECHECK_MAX_MS,
      'it still re-checks for VERIFY_SETTLE_MS',
    );
    // One per poll interval would be 60 reads.
    assert.ok(at.length <= 12, `${at.length} verification passes in ${VERIFY_SETTLE_MS} ms`);
  });
});
