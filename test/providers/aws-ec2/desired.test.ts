import assert from 'node:assert/strict';
import {
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
} from '@aws-sdk/client-ec2';
import { awsError, ec2Mock, LT_ID, provider } from './builders.ts';

const ec2 = ec2Mock;

describe('aws-ec2 resolveDesired', () => {
  beforeEach(() => {
    ec2.reset();
    ec2.on(DescribeLaunchTemplatesCommand).resolves({
      LaunchTemplates: [
        { LaunchTemplateId: LT_ID, LaunchTemplateName: 'cp', LatestVersionNumber: 7, DefaultVersionNumber: 2 },
      ],
    });
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ VersionNumber: 5 }] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-given', State: 'available' }] });
  });

  it('resolves $Latest to the launch template latest version number', async () => {
    const { desired, problems } = await provider({ launchTemplateVersion: '$Latest' }).resolveDesired({
      version: 'v1.37.0',
      imageId: 'ami-given',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(desired, {
      version: 'v1.37.0',
      imageId: 'ami-given',
      image: { name: undefined, owner: undefined, createdAt: undefined },
      template: { id: LT_ID, version: '7' },
      force: false,
    });
  });

  it('resolves $Default (the default) to the default version number', async () => {
    const { desired } = await provider().resolveDesired({ version: 'v1.37.0', imageId: 'ami-given' });
    assert.equal(desired?.template?.version, '2');
  });

  it('looks a launch template up by name when it is not an lt- id', async () => {
    await provider({ launchTemplate: 'kubeswap-cp' }).resolveDesired({ version: 'v1.37.0', imageId: 'ami-given' });
    assert.deepEqual(ec2.commandCalls(DescribeLaunchTemplatesCommand)[0]!.args[0].input, {
      LaunchTemplateNames: ['kubeswap-cp'],
    });
  });

  it('checks that a pinned launch template version exists', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).rejects(awsError('InvalidLaunchTemplateId.VersionNotFound'));
    const { desired, problems } = await provider({ launchTemplateVersion: '9' }).resolveDesired({
      version: 'v1.37.0',
      imageId: 'ami-given',
    });
    assert.equal(desired, undefined);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['launch-template.version-not-found'],
    );
  });

  it('reports a missing image and a missing launch template together', async () => {
    ec2.on(DescribeImagesCommand).rejects(awsError('InvalidAMIID.NotFound'));
    ec2.on(DescribeLaunchTemplatesCommand).rejects(awsError('InvalidLaunchTemplateId.NotFound'));
    const { desired, problems } = await provider().resolveDesired({ version: 'v1.37.0', imageId: 'ami-missing' });
    assert.equal(desired, undefined);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['image.not-found', 'launch-template.not-found'],
    );
    assert.ok(problems.every((p) => p.hint));
  });

  it('finds the newest own image tagged with the version when no image is given', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        { ImageId: 'ami-older', State: 'available', CreationDate: '2026-01-01T00:00:00.000Z' },
        { ImageId: 'ami-newer', State: 'available', CreationDate: '2026-02-01T00:00:00.000Z' },
      ],
    });
    const { desired } = await provider().resolveDesired({ version: 'v1.37.0' });
    assert.equal(desired?.imageId, 'ami-newer');
    const query = ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input;
    assert.deepEqual(query.Owners, ['self']);
    assert.deepEqual(query.Filters, [{ Name: 'tag:kubernetes-version', Values: ['1.37.0', 'v1.37.0'] }]);
  });

  it('searches the image owners given (a build account sharing its AMIs) and reports the image name, owner and date', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-shared',
          Name: 'k8s-node-1.37.0-20260201',
          OwnerId: '111122223333',
          State: 'available',
          CreationDate: '2026-02-01T00:00:00.000Z',
        },
      ],
    });
    const { desired } = await provider({ imageOwners: ['111122223333', 'self'] }).resolveDesired({
      version: 'v1.37.0',
    });
    assert.deepEqual(ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input.Owners, ['111122223333', 'self']);
    assert.deepEqual(desired?.image, {
      name: 'k8s-node-1.37.0-20260201',
      owner: '111122223333',
      createdAt: '2026-02-01T00:00:00.000Z',
    });
  });

  it('uses the configured image for the version before searching tags', async () => {
    const { desired } = await provider({ images: { 'v1.37.0': 'ami-given' } }).resolveDesired({ version: 'v1.37.0' });
    assert.equal(desired?.imageId, 'ami-given');
    assert.deepEqual(ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input, { ImageIds: ['ami-given'] });
  });

  it('refuses an image tagged for another Kubernetes version, naming both', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-given', State: 'available', Tags: [{ Key: 'kubernetes-version', Value: '1.36.3' }] }],
    });
    const { desired, problems } = await provider().resolveDesired({ version: 'v1.37.0', imageId: 'ami-given' });
    assert.equal(desired, undefined);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['image.version-mismatch'],
    );
    assert.match(problems[0]!.message, /ami-given is for Kubernetes v1\.36\.3 .*not v1\.37\.0/);
  });

  it('refuses an image the images setting maps to another version; accepts a matching tag', async () => {
    const mapped = provider({ images: { 'v1.36.3': 'ami-given' } });
    assert.equal(
      (await mapped.resolveDesired({ version: 'v1.37.0', imageId: 'ami-given' })).problems[0]?.code,
      'image.version-mismatch',
    );
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-given', State: 'available', Tags: [{ Key: 'kubernetes-version', Value: 'v1.37.0' }] }],
    });
    assert.deepEqual((await provider().resolveDesired({ version: 'v1.37.0', imageId: 'ami-given' })).problems, []);
  });

  it('reports image.not-found when no image is tagged with the version', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const { problems } = await provider().resolveDesired({ version: 'v1.37.0' });
    assert.deepEqual(
      problems.map((p) => p.code),
      ['image.not-found'],
    );
  });

  it('throws, rather than reporting a problem, when AWS refuses the call itself', async () => {
    ec2.on(DescribeImagesCommand).rejects(awsError('AuthFailure'));
    await assert.rejects(provider().resolveDesired({ version: 'v1.37.0', imageId: 'ami-given' }), {
      code: 'aws.request-failed',
    });
  });
});
