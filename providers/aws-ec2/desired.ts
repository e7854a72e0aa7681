// resolveDesired: turns "version X (and maybe image Y)" into a Desired whose image and launch
// template version exist, or into every problem found (both are checked, so a bad run is refused
// with the whole list at once).
import type { Image } from '@aws-sdk/client-ec2';
import type { Desired } from '../../src/domain/model.ts';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import type { Ec2Port } from './ec2-port.ts';
import { awsErrorName, ProviderError } from './errors.ts';
import { resolveLaunchTemplate } from './launch-template.ts';
import { type ResolvedOptions, TAG } from './options.ts';

const IMAGE_NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable']);

export async function resolveDesired(
  ec2: Ec2Port,
  options: ResolvedOptions,
  wanted: { version: string; imageId?: string },
): Promise<{ desired?: Desired; problems: ProviderProblem[] }> {
  const [image, launchTemplate] = await Promise.all([
    resolveImage(ec2, options, wanted).catch(asProblem),
    resolveLaunchTemplate(ec2, options.launchTemplate, options.launchTemplateVersion).catch(asProblem),
  ]);
  const problems = [image, launchTemplate].filter((r): r is ProviderProblem => 'code' in r);
  if (problems.length > 0 || 'code' in image || 'code' in launchTemplate) return { problems };
  return {
    desired: {
      version: wanted.version,
      imageId: image.imageId,
      template: { id: launchTemplate.id, version: launchTemplate.version },
      // The provider has no say in forcing; the engine sets it from --force.
      force: false,
    },
    problems: [],
  };
}

async function resolveImage(
  ec2: Ec2Port,
  options: ResolvedOptions,
  wanted: { version: string; imageId?: string },
): Promise<{ imageId: string }> {
  const explicit = wanted.imageId ?? options.images?.[wanted.version];
  if (explicit) {
    const images = await ec2.describeImages({ ImageIds: [explicit] }).catch((error: unknown) => {
      if (IMAGE_NOT_FOUND.has(awsErrorName(error) ?? '')) return [] as Image[];
      throw error;
    });
    if (!images.some((i) => i.ImageId === explicit && i.State !== 'deregistered')) {
      throw new ProviderError('image.not-found', `image ${explicit} does not exist in ${options.region}`, {
        hint: 'check the image id and region, or omit --image to use the image tagged for the version',
      });
    }
    return { imageId: explicit };
  }
  // Images are tagged with or without the leading v depending on who built them; accept both.
  const bare = wanted.version.replace(/^v/, '');
  const tagged = await ec2.describeImages({
    Owners: ['self'],
    Filters: [{ Name: `tag:${TAG.kubernetesVersion}`, Values: [bare, `v${bare}`] }],
  });
  const newest = tagged
    .filter((i) => i.ImageId && (i.State === undefined || i.State === 'available'))
    .sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
  if (!newest?.ImageId) {
    throw new ProviderError(
      'image.not-found',
      `no image owned by this account is tagged ${TAG.kubernetesVersion}=${wanted.version}`,
      {
        hint: `pass --image, map the version in the provider's images setting, or tag the AMI ${TAG.kubernetesVersion}=${wanted.version}`,
      },
    );
  }
  return { imageId: newest.ImageId };
}

/** Expected "not there" answers become problems; anything else (auth, network) stays an error. */
function asProblem(error: unknown): ProviderProblem {
  if (error instanceof ProviderError && error.code !== 'aws.throttled' && error.code !== 'aws.request-failed') {
    return error.toProblem();
  }
  throw error;
}
