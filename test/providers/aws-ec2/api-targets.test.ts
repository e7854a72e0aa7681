// The API target's deregistration wait against a fake ELBv2 that drains on fake time: how many DescribeTargetHealth
// it sends for a delay, and how soon after the draining ends it returns.
import assert from 'node:assert/strict';
import type { TargetHealthDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ApiTargetGroup } from '../../../providers/aws-ec2/api-targets.ts';
import type { Elbv2Port } from '../../../providers/aws-ec2/elbv2-port.ts';
import { fakeClock } from '../../adapters/kube/fake-kube.ts';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/abc';
const POLL_MS = 2000;

/**
 * ELBv2 as its user guide describes it: a deregistered target reads `draining` until the group's delay has passed
 * since the DeregisterTargets answer (plus `lateMs`: ELB finishing a little late), then `unused`.
 */
function fakeElb(
  clock: ReturnType<typeof fakeClock>,
  options: { delaySeconds?: number; lateMs?: number; onDeregister?: () => void } = {},
) {
  const at = () => clock.now().getTime();
  const registered = new Map<string, { drainsUntil?: number }>([['i-0old', {}]]);
  const calls = { health: 0, deregister: 0, attributes: 0, set: 0 };
  let attributes: Record<string, string> =
    options.delaySeconds === undefined ? {} : { 'deregistration_delay.timeout_seconds': String(options.delaySeconds) };
  let denied: Error | undefined;
  const state = (id: string) => {
    const target = registered.get(id);
    if (!target) return undefined;
    if (target.drainsUntil === undefined) return 'healthy';
    return at() < target.drainsUntil ? 'draining' : 'unused';
  };
  const port: Elbv2Port = {
    async describeTargetHealth(_arn, ids) {
      calls.health++;
      return (ids ?? [...registered.keys()]).map(
        (id): TargetHealthDescription => ({ Target: { Id: id }, TargetHealth: { State: state(id) ?? 'unused' } }),
      );
    },
    async registerTargets() {},
    async deregisterTargets(_arn, ids) {
      calls.deregister++;
      options.onDeregister?.();
      const seconds = Number(attributes['deregistration_delay.timeout_seconds'] ?? 300);
      for (const id of ids) {
        const target = registered.get(id);
        if (target && target.drainsUntil === undefined)
          target.drainsUntil = at() + seconds * 1000 + (options.lateMs ?? 0);
      }
    },
    async targetGroupAttributes() {
      calls.attributes++;
      if (denied) throw denied;
      return { ...attributes };
    },
    async setTargetGroupAttributes(_arn, changed) {
      calls.set++;
      attributes = { ...attributes, ...changed };
    },
  };
  return {
    port,
    calls,
    drainsUntil: (id: string) => registered.get(id)?.drainsUntil,
    forget: (id: string) => registered.delete(id),
    denyAttributes: () => {
      denied = Object.assign(new Error('User is not authorized'), { name: 'AccessDenied' });
    },
  };
}

async function deregister(options: {
  delaySeconds?: number;
  lateMs?: number;
  configured?: number;
  timeoutMs?: number;
}) {
  const clock = fakeClock();
  const elb = fakeElb(clock, options);
  const group = new ApiTargetGroup(elb.port, TG, POLL_MS, options.configured, clock);
  const started = clock.now().getTime();
  const result = await group.deregister('aws:///us-east-1a/i-0old', options.timeoutMs ?? 3_600_000).then(
    () => undefined,
    (error: unknown) => error,
  );
  const ended = clock.now().getTime();
  return { elb, clock, started, ended, result, afterEndMs: ended - (elb.drainsUntil('i-0old') ?? started) };
}

describe('aws-ec2 API target deregistration wait', () => {
  it('sleeps through a 60 s delay: 3 DescribeTargetHealth, and back the moment draining ends', async () => {
    const { elb, result, afterEndMs } = await deregister({ delaySeconds: 60 });
    assert.equal(result, undefined);
    // Before deregistering, once at once (a target ELB is done with already), once at the end.
    assert.equal(elb.calls.health, 3);
    assert.equal(elb.calls.attributes, 1);
    assert.equal(afterEndMs, 0);
  });

  it('sends as few for the default 300 s delay (polling every 2 s sent about 150)', async () => {
    const { elb, afterEndMs } = await deregister({ delaySeconds: 300 });
    assert.equal(elb.calls.health, 3);
    assert.equal(afterEndMs, 0);
  });

  it('asks at a short interval when ELB finishes a little late: seen within 250 ms', async () => {
    const { elb, clock, afterEndMs } = await deregister({ delaySeconds: 60, lateMs: 200 });
    assert.ok(afterEndMs >= 0 && afterEndMs <= 250, `seen ${afterEndMs} ms after the end`);
    assert.equal(elb.calls.health, 4);
    assert.deepEqual(clock.slept, [60_000, 250]);
  });

  it('backs off to the poll interval when ELB is much later than its delay', async () => {
    const { elb, clock, afterEndMs } = await deregister({ delaySeconds: 60, lateMs: 20_000 });
    assert.ok(afterEndMs < POLL_MS, `seen ${afterEndMs} ms after the end`);
    assert.deepEqual(clock.slept.slice(0, 5), [60_000, 250, 500, 1000, 2000]);
    assert.ok(elb.calls.health <= 16, `${elb.calls.health} requests`);
  });

  it('returns at once for a target that is not registered (or whose instance is gone)', async () => {
    const clock = fakeClock();
    const elb = fakeElb(clock, { delaySeconds: 300 });
    elb.forget('i-0old');
    await new ApiTargetGroup(elb.port, TG, POLL_MS, undefined, clock).deregister('i-0old', 60_000);
    assert.deepEqual(clock.slept, []);
    assert.equal(elb.calls.deregister, 0);
    assert.equal(elb.calls.health, 1);
  });

  it('polls as before when the delay cannot be read (no DescribeTargetGroupAttributes), without failing', async () => {
    const clock = fakeClock();
    const elb = fakeElb(clock, { delaySeconds: 60 });
    elb.denyAttributes();
    const group = new ApiTargetGroup(elb.port, TG, POLL_MS, undefined, clock);
    await group.deregister('i-0old', 3_600_000);
    assert.ok(
      clock.slept.every((ms) => ms <= POLL_MS),
      'never sleeps longer than the poll interval',
    );
    assert.ok(elb.calls.health > 30, `${elb.calls.health} requests: polled through the delay`);
    assert.equal(elb.calls.attributes, 1);
  });

  it('reads the delay once per provider, and uses a configured one without reading it again', async () => {
    const clock = fakeClock();
    const elb = fakeElb(clock, { delaySeconds: 300 });
    const group = new ApiTargetGroup(elb.port, TG, POLL_MS, 30, clock);
    await group.deregister('i-0old', 3_600_000);
    assert.equal(elb.calls.set, 1);
    assert.equal(elb.drainsUntil('i-0old')! - Date.parse('2026-05-01T10:00:00Z'), 30_000);
    assert.equal(clock.slept[0], 30_000);
    elb.forget('i-0old');
    await group.deregister('i-0old', 3_600_000);
    assert.equal(elb.calls.attributes, 1);
  });

  it('fails with api-target.draining-timeout when the delay outlasts the timeout, at the timeout', async () => {
    const { result, ended, started, elb } = await deregister({ delaySeconds: 300, timeoutMs: 60_000 });
    assert.equal((result as { code?: string }).code, 'api-target.draining-timeout');
    assert.equal(ended - started, 60_000);
    assert.equal(elb.calls.health, 3);
  });

  it('ends the sleep through the delay at once on an interrupt, with its reason; the target keeps draining', async () => {
    const clock = fakeClock();
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    // Ctrl-C while DeregisterTargets is in flight: ELB has started the delay by the time it answers.
    const elb = fakeElb(clock, { delaySeconds: 300, onDeregister: () => interrupt.abort(reason) });
    const group = new ApiTargetGroup(elb.port, TG, POLL_MS, undefined, clock);
    await assert.rejects(group.deregister('i-0old', 3_600_000, { signal: interrupt.signal }), (err) => err === reason);
    assert.deepEqual(clock.slept, [], 'no sleep through the 300 s delay');
    assert.equal(elb.calls.deregister, 1);
    const drainsUntil = elb.drainsUntil('i-0old');
    assert.ok(drainsUntil !== undefined, 'ELB drains it on');
    // The re-run finds it draining and waits for the end of that same draining.
    await group.deregister('i-0old', 3_600_000);
    assert.equal(elb.drainsUntil('i-0old'), drainsUntil);
    assert.ok(clock.now().getTime() >= drainsUntil);
  });
});
