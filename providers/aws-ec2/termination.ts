// terminate: end an instance and wait until EC2 reports it terminated (beginTermination: only start it). Already terminated or
// unknown counts as done, so a re-run after a kill passes through.

import { pollUntil } from '../../src/domain/poll.ts';
import type { ProviderWait } from '../../src/ports/machines.ts';
import type { Ec2Port } from './ec2-port.ts';
import { awsErrorName, ProviderError } from './errors.ts';
import { instanceIdOf } from './instances.ts';

export async function terminate(
  ec2: Ec2Port,
  machineId: string,
  timeoutMs: number,
  pollIntervalMs: number,
  /** How the termination starts (an Auto Scaling Group's instance goes through the group). */
  start: (instanceId: string) => Promise<void> = (id) => ec2.terminateInstances([id]),
  /** Interrupted, the polls end at once; the instance keeps shutting down and the re-run waits for it again. */
  wait: ProviderWait = {},
): Promise<void> {
  const instanceId = instanceIdOf(machineId) ?? machineId;
  const state = async () =>
    (await ec2.describeInstances([{ Name: 'instance-id', Values: [instanceId] }]))[0]?.State?.Name;
  if (await beginTermination(ec2, machineId, start)) return;
  const done = await pollUntil(
    async () => {
      const now = await state();
      return now === undefined || now === 'terminated';
    },
    { intervalMs: pollIntervalMs, timeoutMs, signal: wait.signal },
  );
  if (!done) {
    throw new ProviderError('terminate.timeout', `instance ${instanceId} was not terminated within ${timeoutMs} ms`, {
      hint: 'check the instance in the EC2 console; re-run once it is terminated',
    });
  }
}

/**
 * Starts the termination (EC2 moves the instance to shutting-down, then terminated: EC2 User Guide, "Instance state
 * changes") without waiting for it. True when the instance is gone already.
 */
export async function beginTermination(
  ec2: Ec2Port,
  machineId: string,
  start: (instanceId: string) => Promise<void> = (id) => ec2.terminateInstances([id]),
): Promise<boolean> {
  const instanceId = instanceIdOf(machineId) ?? machineId;
  const before = (await ec2.describeInstances([{ Name: 'instance-id', Values: [instanceId] }]))[0]?.State?.Name;
  if (before === undefined || before === 'terminated') return true;
  if (before !== 'shutting-down') {
    try {
      await start(instanceId);
    } catch (error) {
      const name = awsErrorName(error);
      if (name === 'InvalidInstanceID.NotFound') return true;
      if (name === 'OperationNotPermitted') {
        throw new ProviderError(
          'terminate.protected',
          `instance ${instanceId} cannot be terminated: ${String(error)}`,
          {
            hint: `turn off termination protection (aws ec2 modify-instance-attribute --instance-id ${instanceId} --no-disable-api-termination) and re-run`,
            cause: error,
          },
        );
      }
      throw error;
    }
  }
  return false;
}
