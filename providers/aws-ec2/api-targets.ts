// Membership of the kube-apiserver target group. Deregistration waits for draining to end so the
// old apiserver is out of the load balancer before its etcd member and VM go away.
import type { TargetHealthStateEnum } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ApiTarget, ApiTargetState } from '../../src/domain/model.ts';
import { pollUntil } from '../../src/domain/poll.ts';
import type { LoadBalancerMembership } from '../../src/ports/machines.ts';
import type { Elbv2Port } from './elbv2-port.ts';
import { awsErrorName, ProviderError } from './errors.ts';
import { instanceIdOf } from './instances.ts';

const DEREGISTRATION_DELAY = 'deregistration_delay.timeout_seconds';

export class ApiTargetGroup implements LoadBalancerMembership {
  private delayEnsured = false;

  constructor(
    private readonly elb: Elbv2Port,
    private readonly targetGroupArn: string,
    private readonly pollIntervalMs: number,
    private readonly deregistrationDelaySeconds?: number,
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

  async deregister(machineId: string, timeoutMs: number): Promise<void> {
    const id = this.instanceId(machineId);
    await this.ensureDeregistrationDelay();
    if ((await this.state(id)) !== 'unused') {
      try {
        await this.elb.deregisterTargets(this.targetGroupArn, [id]);
      } catch (error) {
        // Not registered (any more), or the instance is gone: nothing to deregister.
        if (awsErrorName(error) !== 'InvalidTargetException') throw error;
      }
    }
    // Targets are always given: without them healthy peers never turn `unused` (the SDK waiter's trap).
    const drained = await pollUntil(async () => (await this.state(id)) === 'unused', {
      intervalMs: this.pollIntervalMs,
      timeoutMs,
    });
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

  /** Sets the group's deregistration delay once per provider, and only when it differs. */
  private async ensureDeregistrationDelay(): Promise<void> {
    if (this.deregistrationDelaySeconds === undefined || this.delayEnsured) return;
    const wanted = String(this.deregistrationDelaySeconds);
    const attributes = await this.elb.targetGroupAttributes(this.targetGroupArn);
    if (attributes[DEREGISTRATION_DELAY] !== wanted) {
      await this.elb.setTargetGroupAttributes(this.targetGroupArn, { [DEREGISTRATION_DELAY]: wanted });
    }
    this.delayEnsured = true;
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
