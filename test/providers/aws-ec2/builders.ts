// Builders for the AWS EC2 provider's unit tests: a provider wired to mocked SDK clients, and the
// SDK / domain shapes the tests feed it.
import { EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { type AwsEc2ProviderOptions, createAwsEc2Provider } from '../../../providers/aws-ec2/index.ts';
import type { Ec2Machine } from '../../../providers/aws-ec2/instances.ts';
import type { ReplacementRequest } from '../../../src/ports/machines.ts';

// One mock per client class for every test file: mockClient stubs the class prototype.
export const ec2Mock = mockClient(EC2Client);
export const elbMock = mockClient(ElasticLoadBalancingV2Client);

export const LT_ID = 'lt-0123456789abcdef0';
export const TG_ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/abc';

export function provider(overrides: Partial<AwsEc2ProviderOptions> = {}) {
  return createAwsEc2Provider({
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    launchTemplate: LT_ID,
    clusterName: 'prod',
    targetGroupArn: TG_ARN,
    pollIntervalMs: 1,
    throttleRetry: { minTimeoutMs: 1, maxTimeoutMs: 2 },
    ...overrides,
  });
}

export function machine(overrides: Partial<Ec2Machine> = {}): Ec2Machine {
  return {
    id: 'i-0old',
    providerId: 'aws:///us-east-1a/i-0old',
    pool: 'control-plane',
    zone: 'us-east-1a',
    subnetId: 'subnet-a1',
    imageId: 'ami-old',
    phase: 'running',
    status: 'running',
    state: 'running',
    launchedAt: new Date('2026-01-01T00:00:00Z'),
    tags: {},
    ...overrides,
  };
}

export function request(overrides: Partial<ReplacementRequest> = {}): ReplacementRequest {
  return {
    pool: 'control-plane',
    replaces: machine(),
    runId: 'run-20260101-abcd',
    token: 'run-20260101-abcd-i-0old-1',
    desired: { version: 'v1.37.0', imageId: 'ami-new', template: { id: LT_ID, version: '3' }, force: false },
    ...overrides,
  };
}

export function instance(overrides: Partial<Instance> = {}): Instance {
  return {
    InstanceId: 'i-0new',
    ImageId: 'ami-new',
    SubnetId: 'subnet-a1',
    Placement: { AvailabilityZone: 'us-east-1a' },
    State: { Name: 'pending', Code: 0 },
    LaunchTime: new Date('2026-01-02T00:00:00Z'),
    Tags: [],
    ...overrides,
  };
}

/** An error shaped like the SDK's (EC2 has no modeled classes: only `name` tells them apart). */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: {} });
}
