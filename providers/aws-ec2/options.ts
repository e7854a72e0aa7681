// Settings of the AWS EC2 provider, their defaults, and the tag names it writes and reads.
// Every interval and timeout is an option so tests (and moto) run at millisecond pace.
import type { EC2ClientConfig } from '@aws-sdk/client-ec2';
import { ProviderError } from './errors.ts';

/**
 * Appended to the SDK's user agent on every request (`customUserAgent`): CloudTrail's userAgent field then tells
 * kubeswap's calls from others', and the sandbox counts them (integration/sandbox/aws-front.ts).
 */
export const USER_AGENT = 'kubeswap';

export interface ThrottleRetryOptions {
  /** Retries on top of the SDK's own attempts (each retry is one SDK `send`, itself up to 3 tries). */
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  /** Upper bound on the time spent retrying one call. */
  maxRetryTimeMs: number;
}

export interface AwsEc2ProviderOptions {
  /**
   * undefined: the SDK's own chain (AWS_REGION, then the `region` of the AWS_PROFILE profile in the shared
   * config, then the instance metadata), which with AWS_DEFAULT_REGION read first is how the AWS CLI resolves it.
   */
  region?: string;
  /** Endpoint override (moto, LocalStack); the SDK also honours AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** Static keys or a provider; default: the SDK's credential chain. */
  credentials?: EC2ClientConfig['credentials'];
  /** Launch template id (`lt-...`) or name. */
  launchTemplate: string;
  /** `$Latest`, `$Default` (default) or a version number; always resolved to a number. */
  launchTemplateVersion?: string;
  /** ELBv2 target group in front of the kube-apiservers; without it the API target calls are no-ops. */
  targetGroupArn?: string;
  clusterName: string;
  /** Kubernetes version -> image id, consulted before looking for an image tagged `kubernetes-version`. */
  images?: Record<string, string>;
  /** Accounts whose images are searched for the version tag (EC2 DescribeImages Owners); default `self`. */
  imageOwners?: string[];
  /** Poll interval while waiting for termination and draining. */
  pollIntervalMs?: number;
  /** When set, the target group's deregistration delay is set to this before the first deregistration. */
  deregistrationDelaySeconds?: number;
  throttleRetry?: Partial<ThrottleRetryOptions>;
  /** Worker pools: which instances each holds (a tag or a launch template). */
  pools?: { name: string; tag?: string; launchTemplate?: string }[];
}

export interface ResolvedOptions extends AwsEc2ProviderOptions {
  launchTemplateVersion: string;
  pollIntervalMs: number;
  throttleRetry: ThrottleRetryOptions;
}

export const DEFAULT_POLL_INTERVAL_MS = 2_000;
export const DEFAULT_THROTTLE_RETRY: ThrottleRetryOptions = {
  retries: 5,
  minTimeoutMs: 1_000,
  maxTimeoutMs: 20_000,
  maxRetryTimeMs: 120_000,
};

/** Tags the provider writes at launch and reads back to find what a run created. */
export const TAG = {
  role: 'kubeswap.io/role',
  runId: 'kubeswap.io/run-id',
  replaces: 'kubeswap.io/replaces',
  token: 'kubeswap.io/token',
  /** The worker pool a replacement belongs to. */
  pool: 'kubeswap.io/pool',
  /** Images are found by this tag when no image id is given. */
  kubernetesVersion: 'kubernetes-version',
  launchTemplateId: 'aws:ec2launchtemplate:id',
  launchTemplateVersion: 'aws:ec2launchtemplate:version',
} as const;
export const CONTROL_PLANE_ROLE = 'control-plane';
export const WORKER_ROLE = 'worker';

/** The tag the AWS cloud provider uses to tell which cluster owns a resource. */
export function clusterTagKey(clusterName: string): string {
  return `kubernetes.io/cluster/${clusterName}`;
}

export function resolveOptions(options: AwsEc2ProviderOptions): ResolvedOptions {
  const problems: string[] = [];
  if (!options.clusterName) problems.push('clusterName is required');
  if (!options.launchTemplate) problems.push('launchTemplate (id or name) is required');
  const version = options.launchTemplateVersion ?? '$Default';
  if (!/^(\$Latest|\$Default|[1-9][0-9]*)$/.test(version)) {
    problems.push(`launchTemplateVersion ${version} is not $Latest, $Default or a version number`);
  }
  if (options.pollIntervalMs !== undefined && !(options.pollIntervalMs > 0))
    problems.push('pollIntervalMs must be > 0');
  if (options.deregistrationDelaySeconds !== undefined && !(options.deregistrationDelaySeconds >= 0)) {
    problems.push('deregistrationDelaySeconds must be >= 0');
  }
  if (problems.length > 0) {
    throw new ProviderError('options.invalid', `invalid aws-ec2 provider options: ${problems.join('; ')}`);
  }
  return {
    ...options,
    launchTemplateVersion: version,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    throttleRetry: { ...DEFAULT_THROTTLE_RETRY, ...options.throttleRetry },
  };
}

/** The AWS settings every AWS provider reads from its `provider:` section (aws-ec2 and aws-asg share them). */
export function awsSettings(
  settings: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
): Pick<
  AwsEc2ProviderOptions,
  | 'region'
  | 'endpoint'
  | 'targetGroupArn'
  | 'clusterName'
  | 'images'
  | 'imageOwners'
  | 'deregistrationDelaySeconds'
  | 'pools'
> & { str(key: string): string | undefined } {
  const str = (key: string) => (typeof settings[key] === 'string' ? (settings[key] as string) : undefined);
  return {
    str,
    // As the AWS CLI: AWS_REGION, AWS_DEFAULT_REGION, then the profile (the SDK reads AWS_PROFILE's region itself).
    region: str('region') || env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || undefined,
    endpoint: str('endpoint'),
    targetGroupArn: str('targetGroupArn'),
    clusterName: str('clusterName') ?? '',
    images: (settings['images'] as Record<string, string> | undefined) ?? {},
    imageOwners: settings['imageOwners'] as string[] | undefined,
    deregistrationDelaySeconds: settings['deregistrationDelaySeconds'] as number | undefined,
    pools: settings['pools'] as AwsEc2ProviderOptions['pools'],
  };
}
