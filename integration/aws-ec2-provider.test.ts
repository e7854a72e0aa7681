// The AWS EC2 provider against a real moto_server: the calls, filters and shapes must be ones moto
// (and so the sandbox) accepts. moto has no pending state and no draining delay, so the waits here
// end at the first poll; their timing is covered by the unit tests.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
  RegisterImageCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type AwsEc2Provider, createAwsEc2Provider } from '../providers/aws-ec2/index.ts';
import type { Ec2Machine } from '../providers/aws-ec2/instances.ts';
import type { ReplacementRequest } from '../src/ports/machines.ts';
import { allocatePort } from './sandbox/ports.ts';

const region = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const clusterName = 'itest';

async function startMoto(): Promise<{ endpoint: string; process: ChildProcess }> {
  const port = await allocatePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    const up = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { endpoint, process: child };
    await sleep(100);
  }
  child.kill();
  throw new Error('moto_server did not start within 30 s');
}

describe('aws-ec2 provider against moto', function () {
  this.timeout(60_000);
  let moto: { endpoint: string; process: ChildProcess };
  let ec2: EC2Client;
  let elb: ElasticLoadBalancingV2Client;
  let provider: AwsEc2Provider;
  let launchTemplateId: string;
  let targetGroupArn: string;
  let imageFrom: string;
  let imageTo: string;
  const subnets: Record<'a1' | 'a2' | 'b1', string> = { a1: '', a2: '', b1: '' };
  let old: Instance[] = [];
  let oldMachines: Ec2Machine[] = [];

  before(async () => {
    moto = await startMoto();
    const common = { region, endpoint: moto.endpoint, credentials };
    ec2 = new EC2Client(common);
    elb = new ElasticLoadBalancingV2Client(common);

    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    const vpcId = vpc.Vpc!.VpcId!;
    for (const [key, cidr, zone] of [
      ['a1', '10.0.1.0/24', 'us-east-1a'],
      ['a2', '10.0.2.0/24', 'us-east-1a'],
      ['b1', '10.0.3.0/24', 'us-east-1b'],
    ] as const) {
      const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: zone }));
      subnets[key] = subnet.Subnet!.SubnetId!;
    }
    const image = async (version: string) => {
      const out = await ec2.send(new RegisterImageCommand({ Name: `cp-${version}`, RootDeviceName: '/dev/sda1' }));
      await ec2.send(
        new CreateTagsCommand({ Resources: [out.ImageId!], Tags: [{ Key: 'kubernetes-version', Value: version }] }),
      );
      return out.ImageId!;
    };
    imageFrom = await image('v1.36.2');
    imageTo = await image('v1.37.0');
    const lt = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'itest-cp',
        LaunchTemplateData: { ImageId: imageFrom, InstanceType: 't3.medium' },
      }),
    );
    launchTemplateId = lt.LaunchTemplate!.LaunchTemplateId!;
    // A second version makes $Latest (2) differ from $Default (1).
    await ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: launchTemplateId,
        SourceVersion: '1',
        LaunchTemplateData: { InstanceType: 't3.large' },
      }),
    );
    const tg = await elb.send(
      new CreateTargetGroupCommand({
        Name: 'itest-api',
        Protocol: 'TCP',
        Port: 6443,
        VpcId: vpcId,
        TargetType: 'instance',
      }),
    );
    targetGroupArn = tg.TargetGroups![0]!.TargetGroupArn!;

    // The control plane kubeadm built before kubeswap: cluster-tagged, not kubeswap-tagged.
    old = [];
    for (const subnet of [subnets.a1, subnets.b1, subnets.a2]) {
      const out = await ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          LaunchTemplate: { LaunchTemplateId: launchTemplateId, Version: '1' },
          SubnetId: subnet,
          TagSpecifications: [
            { ResourceType: 'instance', Tags: [{ Key: `kubernetes.io/cluster/${clusterName}`, Value: 'owned' }] },
          ],
        }),
      );
      old.push(out.Instances![0]!);
    }
    await elb.send(
      new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: old.map((i) => ({ Id: i.InstanceId! })) }),
    );

    provider = createAwsEc2Provider({
      region,
      endpoint: moto.endpoint,
      credentials,
      launchTemplate: 'itest-cp',
      launchTemplateVersion: '$Latest',
      targetGroupArn,
      clusterName,
      pollIntervalMs: 50,
      deregistrationDelaySeconds: 5,
    });
  });

  after(() => {
    provider?.destroy();
    ec2?.destroy();
    elb?.destroy();
    moto?.process.kill('SIGTERM');
  });

  const providerIds = () => old.map((i) => `aws:///${i.Placement!.AvailabilityZone}/${i.InstanceId}`);
  const request = (overrides: Partial<ReplacementRequest> = {}): ReplacementRequest => ({
    pool: 'control-plane',
    replaces: oldMachines[0]!,
    runId: 'run-itest',
    token: `run-itest-${oldMachines[0]!.id}-1`,
    desired: {
      version: 'v1.37.0',
      imageId: imageTo,
      template: { id: launchTemplateId, version: '2' },
      force: false,
    },
    ...overrides,
  });

  it('resolves the image tagged for the version and $Latest to the version number, with what to review', async () => {
    const { desired, problems } = await provider.resolveDesired({ version: 'v1.37.0' });
    assert.deepEqual(problems, []);
    const { image, ...resolved } = desired!;
    assert.deepEqual(resolved, {
      version: 'v1.37.0',
      imageId: imageTo,
      template: { id: launchTemplateId, version: '2' },
      force: false,
    });
    // The plan shows the image's name, owner and creation date for review (moto's account is 123456789012).
    assert.equal(image?.name, 'cp-v1.37.0');
    assert.match(image?.owner ?? '', /^\d{12}$/);
    assert.ok(!Number.isNaN(Date.parse(image?.createdAt ?? '')), `a creation date: ${image?.createdAt}`);
  });

  it('reports an unknown image, an untagged version and a missing launch template as problems', async () => {
    const unknown = await provider.resolveDesired({ version: 'v1.37.0', imageId: 'ami-00000000000000000' });
    assert.deepEqual(
      unknown.problems.map((p) => p.code),
      ['image.not-found'],
    );
    const untagged = await provider.resolveDesired({ version: 'v1.38.0' });
    assert.deepEqual(
      untagged.problems.map((p) => p.code),
      ['image.not-found'],
    );
    const missing = createAwsEc2Provider({
      region,
      endpoint: moto.endpoint,
      credentials,
      launchTemplate: 'nope',
      clusterName,
    });
    const byName = await missing.resolveDesired({ version: 'v1.37.0', imageId: imageTo });
    assert.deepEqual(
      byName.problems.map((p) => p.code),
      ['launch-template.not-found'],
    );
    missing.destroy();
  });

  it('lists the machines linked by providerID with their zone, subnet, image and template version', async () => {
    oldMachines = await provider.listMachines('control-plane', providerIds());
    assert.deepEqual(oldMachines.map((m) => m.id).sort(), old.map((i) => i.InstanceId!).sort());
    const first = oldMachines.find((m) => m.id === old[0]!.InstanceId)!;
    assert.equal(first.providerId, providerIds()[0]);
    assert.equal(first.zone, 'us-east-1a');
    assert.equal(first.subnetId, subnets.a1);
    assert.equal(first.imageId, imageFrom);
    assert.deepEqual(first.launchTemplate, { id: launchTemplateId, version: '1' });
    assert.equal(first.state, 'running');
    assert.equal(first.phase, 'running');
    oldMachines = [first, ...oldMachines.filter((m) => m !== first)];
  });

  it('creates the replacement once: a second call with the same token finds it', async () => {
    const first = await provider.createReplacement(request());
    const second = await provider.createReplacement(request());
    assert.equal(second.id, first.id);
    assert.equal(first.subnetId, subnets.a1);
    assert.equal(first.zone, 'us-east-1a');
    assert.equal(first.replaces, oldMachines[0]!.id);
    assert.equal(first.runId, 'run-itest');

    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [first.id] }));
    const instance = described.Reservations![0]!.Instances![0]!;
    const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(instance.ImageId, imageTo);
    assert.equal(tags[`kubernetes.io/cluster/${clusterName}`], 'owned');
    assert.equal(tags['kubeswap.io/role'], 'control-plane');
    assert.equal(tags['kubeswap.io/replaces'], oldMachines[0]!.id);
    assert.equal(tags['aws:ec2launchtemplate:version'], '2');
    assert.equal(instance.MetadataOptions?.HttpTokens, 'required');

    const machines = await provider.listMachines('control-plane', providerIds());
    assert.equal(machines.length, 4);
    assert.equal(machines.filter((m) => m.replaces === oldMachines[0]!.id).length, 1);
  });

  it('registers the replacement and deregisters the old machine from the API target group', async () => {
    const replacement = (await provider.listMachines('control-plane', [])).find(
      (m) => m.replaces === oldMachines[0]!.id,
    )!;
    await provider.loadBalancer!.register(replacement.id);
    await provider.loadBalancer!.deregister(oldMachines[0]!.providerId, 10_000);
    // Again: already deregistered is done.
    await provider.loadBalancer!.deregister(oldMachines[0]!.id, 10_000);
    const targets = await provider.loadBalancer!.targets();
    assert.deepEqual(
      targets.map((t) => t.machineId).sort(),
      [replacement.id, oldMachines[1]!.id, oldMachines[2]!.id].sort(),
    );
    assert.ok(targets.every((t) => t.state === 'serving'));
  });

  it('terminates the old machine and waits, and terminating it again is a no-op', async () => {
    await provider.terminate(oldMachines[0]!.id, 10_000);
    await provider.terminate(oldMachines[0]!.providerId, 10_000);
    // listMachines also returns this cluster's tagged replacements: pick the old machine by id.
    const machine = (await provider.listMachines('control-plane', [oldMachines[0]!.providerId])).find(
      (m) => m.id === oldMachines[0]!.id,
    );
    assert.equal(machine?.state, 'terminated');
  });

  it('keeps bootstrap secrets as SecureString parameters under the cluster, lists them per run and deletes them', async () => {
    const store = provider.bootstrapSecrets!;
    await store.put('run-a/r1', 'kind: JoinConfiguration\ntoken: abcdef.0123456789abcdef\n');
    await store.put('run-a/r1', 'kind: JoinConfiguration\ntoken: ghijkl.0123456789abcdef\n');
    await store.put('run-b/r1', 'kind: JoinConfiguration\n');
    assert.deepEqual((await store.list()).sort(), ['run-a/r1', 'run-b/r1']);
    assert.deepEqual(await store.list('run-a'), ['run-a/r1']);
    const ssm = new SSMClient({ region, endpoint: moto.endpoint, credentials });
    try {
      const name = `/kubeswap/${clusterName}/run-a/r1`;
      const stored = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      assert.equal(stored.Parameter?.Type, 'SecureString');
      assert.match(stored.Parameter?.Value ?? '', /ghijkl/, 'the second put overwrote the first');
      assert.match(store.fetchLines('run-a/r1', '/etc/kubeadm/join.yaml').join('\n'), new RegExp(`--name '${name}'`));
    } finally {
      ssm.destroy();
    }
    assert.equal(await store.delete('run-a/r1'), 'deleted');
    assert.equal(await store.delete('run-a/r1'), 'gone');
    await store.delete('run-b/r1');
    assert.deepEqual(await store.list(), []);
  });
});
