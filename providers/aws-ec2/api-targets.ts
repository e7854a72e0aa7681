// Membership of the kube-apiserver target group. Deregistration waits for draining to end so the
// old apiserver is out of the load balancer before its etcd member and VM go away.
//
// How long draining lasts is known in advance: ELB keeps a deregistered target `draining` for the group's
// deregistration_delay.timeout_seconds, then it reads `unused`. Elastic Load Balancing User Guide (Application Load
// Balancers), "Deregistration delay": "The initial state of a deregistering target is draining. After the
// deregistration delay elapses, the deregistration process completes and the state of the target is unused ... If a
// deregistering target has no in-flight requests and no active connections, Elastic Load Balancing immediately
// completes the deregistration process, without waiting for the deregistration delay to elapse. However, even though
// target deregistration is complete, the status of the target is displayed as draining until the deregistration delay
// timeout expires." Network Load Balancers keep the same states for the same delay; with
// deregistration_delay.connection_termination.enabled they close the connections left when it ends (Network Load
// Balancers User Guide, "Deregistration delay"). So instead of asking every poll interval through the whole delay
// (150 DescribeTargetHealth for the default 300 s at 2 s), the wait sleeps until the delay has passed since the
// DeregisterTargets answer, then asks at a short interval: a few requests per target, and the target seen `unused`
// within a fraction of a second of the end.
import { debuglog } from 'node:util';
import type { TargetHealthStateEnum } from '@aws-sdk/client-elastic-load-balancing-v2';
import { type Clock, systemClock } from '../../src/domain/clock.ts';
import type { ApiTarget, ApiTargetState } from '../../src/domain/model.ts';
import { pollUntil } from '../../src/domain/poll.ts';
import type { LoadBalancerMembership, ProviderWait } from '../../src/ports/machines.ts';
import type { Elbv2Port } from './elbv2-port.ts';
import { awsErrorName, ProviderError } from './errors.ts';
import { instanceIdOf } from './instances.ts';

const DEREGISTRATION_DELAY = 'deregistration_delay.timeout_seconds';
/** First pause once the delay has passed; pauses double from here up to the provider's poll interval. */
export const DRAIN_END_POLL_MS = 250;
/** `NODE_DEBUG=kubeswap`: lines for whoever investigates a slow or chatty run; never part of the output. */
const debug = debuglog('kubeswap');

export class ApiTargetGroup implements LoadBalancerMembership {
  /** The group's deregistration delay in ms, read once per provider; undefined: unknown (poll instead). */
  private delayMs?: Promise<number | undefined>;

  constructor(
    private readonly elb: Elbv2Port,
    private readonly targetGroupArn: string,
    private readonly pollIntervalMs: number,
    private readonly deregistrationDelaySeconds?: number,
    private readonly clock: Clock = systemClock,
  ) {}

  async targets(): Promise<ApiTarget[]> {
    const health = await this.elb.describeTargetHealth(this.targetGroupArn);
    return health
      .filter((h) => h.Target?.Id)
      .map((h) => ({ machineId: h.Target!.Id!, state: GENERIC[toState(h.TargetHealth?.State)] }));
  }

  async register(machineId: string): Promise<void> {
    await this.elb.registerTargets(this.targetGroupArn, [this.instanceId(machineId)]);
  }

  /**
   * Interrupted (`wait.signal`), the sleep through the delay and the polls after it end at once: the target keeps
   * draining in ELB, and the re-run finds it `draining` and polls for its end.
   */
  async deregister(machineId: string, timeoutMs: number, wait: ProviderWait = {}): Promise<void> {
    const { signal } = wait;
    const id = this.instanceId(machineId);
    const now = () => this.clock.now().getTime();
    const deadline = now() + timeoutMs;
    // A configured delay is set before the first deregistration, so that one drains for it too.
    if (this.deregistrationDelaySeconds !== undefined) await this.deregistrationDelayMs();
    const before = await this.state(id);
    if (before === 'unused') return;
    // A target draining already (a re-run after a kill) started at a time nobody recorded: poll for it.
    const delayMs = before === 'draining' ? undefined : await this.deregistrationDelayMs();
    let drainsUntil: number | undefined;
    try {
      await this.elb.deregisterTargets(this.targetGroupArn, [id]);
      // ELB has started the delay by the time it answers: the draining ends at the latest the delay after the answer.
      if (delayMs !== undefined) drainsUntil = now() + delayMs;
    } catch (error) {
      // Not registered (any more), or the instance is gone: nothing to deregister.
      if (awsErrorName(error) !== 'InvalidTargetException') throw error;
    }
    // Targets are always given: without them healthy peers never turn `unused` (the SDK waiter's trap).
    const unused = async () => (await this.state(id)) === 'unused';
    // One look at once: a target ELB is done with already (gone, or never serving) returns now, not after the delay.
    let drained = await unused();
    if (!drained && drainsUntil !== undefined) {
      await this.clock.sleep(Math.max(0, Math.min(drainsUntil, deadline) - now()), signal);
      drained = await pollUntil(unused, {
        firstIntervalMs: DRAIN_END_POLL_MS,
        intervalMs: this.pollIntervalMs,
        timeoutMs: Math.max(0, deadline - now()),
        clock: this.clock,
        signal,
      });
    } else if (!drained) {
      drained = await pollUntil(unused, {
        intervalMs: this.pollIntervalMs,
        timeoutMs: Math.max(0, deadline - now()),
        clock: this.clock,
        signal,
      });
    }
    if (!drained) {
      throw new ProviderError('api-target.draining-timeout', `target ${id} still draining after ${timeoutMs} ms`, {
        hint: `the target group's ${DEREGISTRATION_DELAY} may be longer than the timeout; lower it or raise the timeout`,
      });
    }
  }

  private async state(instanceId: string): Promise<ElbTargetState> {
    try {
      const [health] = await this.elb.describeTargetHealth(this.targetGroupArn, [instanceId]);
      return health ? toState(health.TargetHealth?.State) : 'unused';
    } catch (error) {
      // Raised for a terminated instance: it cannot be in the group.
      if (awsErrorName(error) === 'InvalidTargetException') return 'unused';
      throw error;
    }
  }

  /**
   * The group's deregistration delay, read once per provider (one DescribeTargetGroupAttributes), and set first when
   * configured and different. Unreadable (no elasticloadbalancing:DescribeTargetGroupAttributes): undefined, and the
   * wait polls through the delay as it did before; a failure to set a configured delay fails as before.
   */
  private deregistrationDelayMs(): Promise<number | undefined> {
    if (!this.delayMs) {
      this.delayMs = this.readDeregistrationDelay();
      // A failed set is asked again at the next deregistration.
      this.delayMs.catch(() => {
        this.delayMs = undefined;
      });
    }
    return this.delayMs;
  }

  private async readDeregistrationDelay(): Promise<number | undefined> {
    const wanted = this.deregistrationDelaySeconds;
    if (wanted !== undefined) {
      const attributes = await this.elb.targetGroupAttributes(this.targetGroupArn);
      if (attributes[DEREGISTRATION_DELAY] !== String(wanted)) {
        await this.elb.setTargetGroupAttributes(this.targetGroupArn, { [DEREGISTRATION_DELAY]: String(wanted) });
      }
      return wanted * 1000;
    }
    try {
      const seconds = (await this.elb.targetGroupAttributes(this.targetGroupArn))[DEREGISTRATION_DELAY];
      if (seconds !== undefined && /^\d+$/.test(seconds)) return Number(seconds) * 1000;
      debug('target group %s has no %s: polling while targets drain', this.targetGroupArn, DEREGISTRATION_DELAY);
    } catch (error) {
      debug(
        'cannot read the %s of %s (%s): polling while targets drain',
        DEREGISTRATION_DELAY,
        this.targetGroupArn,
        awsErrorName(error) ?? String(error),
      );
    }
    return undefined;
  }

  private instanceId(machineId: string): string {
    return instanceIdOf(machineId) ?? machineId;
  }
}

type ElbTargetState = 'initial' | 'healthy' | 'unhealthy' | 'draining' | 'unused' | 'unavailable';

/** ELBv2's words for a target's state, in the contract's generic ones. */
const GENERIC: Record<ElbTargetState, ApiTargetState> = {
  initial: 'registering',
  healthy: 'serving',
  unhealthy: 'unhealthy',
  draining: 'draining',
  unused: 'absent',
  // Health checks disabled: no verdict either way.
  unavailable: 'unmonitored',
};

function toState(state: TargetHealthStateEnum | string | undefined): ElbTargetState {
  switch (state) {
    case 'initial':
    case 'healthy':
    case 'unhealthy':
    case 'draining':
    case 'unused':
    case 'unavailable':
      return state;
    // `unhealthy.draining` (ALB) still serves in-flight requests.
    case 'unhealthy.draining':
      return 'draining';
    default:
      return 'unavailable';
  }
}
