// Settings of the AWS Auto Scaling group provider. It shares the aws-ec2 provider's region, endpoint, cluster
// name, images and throttling; the group replaces the launch template setting.
import { ProviderError } from '../aws-ec2/errors.ts';
import {
  type AwsEc2ProviderOptions,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_THROTTLE_RETRY,
  type ThrottleRetryOptions,
} from '../aws-ec2/options.ts';

export interface AwsAsgProviderOptions
  extends Pick<
    AwsEc2ProviderOptions,
    'region' | 'endpoint' | 'credentials' | 'clusterName' | 'images' | 'pollIntervalMs' | 'deregistrationDelaySeconds'
  > {
  autoScalingGroup: string;
  /** The API target group among the group's attached ones; default: the only one attached. */
  targetGroupArn?: string;
  /** Create a launch template version with the target image (from the group's version) when none has it. */
  updateLaunchTemplate?: boolean;
  /** How long the group may take to launch a replacement once its capacity is raised. */
  launchTimeoutMs?: number;
  throttleRetry?: Partial<ThrottleRetryOptions>;
  /** Worker pools: each the instances of one worker Auto Scaling group. */
  pools?: { name: string; autoScalingGroup?: string }[];
}

export interface ResolvedAsgOptions extends AwsAsgProviderOptions {
  pollIntervalMs: number;
  launchTimeoutMs: number;
  throttleRetry: ThrottleRetryOptions;
}

export function resolveAsgOptions(options: AwsAsgProviderOptions): ResolvedAsgOptions {
  const problems: string[] = [];
  if (!options.region) problems.push('region is required');
  if (!options.clusterName) problems.push('clusterName is required');
  if (!options.autoScalingGroup) problems.push('autoScalingGroup (the group name) is required');
  if (options.pollIntervalMs !== undefined && !(options.pollIntervalMs > 0))
    problems.push('pollIntervalMs must be > 0');
  if (problems.length > 0) {
    throw new ProviderError('options.invalid', `invalid aws-asg provider options: ${problems.join('; ')}`);
  }
  return {
    ...options,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    launchTimeoutMs: options.launchTimeoutMs ?? 10 * 60_000,
    throttleRetry: { ...DEFAULT_THROTTLE_RETRY, ...options.throttleRetry },
  };
}
