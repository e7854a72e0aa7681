// resolveDesired: turns "version X (and maybe image Y)" into a Desired whose image and launch
// template version exist, or into every problem found (both are checked, so a bad run is refused
// with the whole list at once).
import type { Image } from '@aws-sdk/client-ec2';
import type { Desired, ImageFacts } from '../../src/domain/model.ts';
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
      image: image.facts,
      template: { id: launchTemplate.id, version: launchTemplate.version },
      // The provider has no say in forcing; the engine sets it from --force.
      force: false,
    },
    problems: [],
  };
}

export async function resolveImage(
  ec2: Ec2Port,
  options: Pick<ResolvedOptions, 'region' | 'images' | 'imageOwners'>,
  wanted: { version: string; imageId?: string },
): Promise<{ imageId: string; facts: ImageFacts }> {
  const explicit = wanted.imageId ?? options.images?.[wanted.version];
  if (explicit) {
    const images = await ec2.describeImages({ ImageIds: [explicit] }).catch((error: unknown) => {
      if (IMAGE_NOT_FOUND.has(awsErrorName(error) ?? '')) return [] as Image[];
      throw error;
    });
    const image = images.find((i) => i.ImageId === explicit && i.State !== 'deregistered');
    if (!image) {
      throw new ProviderError(
        'image.not-found',
        `image ${explicit} does not exist in ${options.region ?? 'the region of your AWS profile'}`,
        {
          hint: 'check the image id and region, or omit --image to use the image tagged for the version',
        },
      );
    }
    checkImageVersion(image, explicit, wanted.version, options.images);
    return { imageId: explicit, facts: factsOf(image) };
  }
  // Images are tagged with or without the leading v depending on who built them; accept both.
  const bare = wanted.version.replace(/^v/, '');
  // Owners: `self` by default; a build account that shares its AMIs is named in imageOwners.
  const owners = options.imageOwners?.length ? options.imageOwners : ['self'];
  const tagged = await ec2.describeImages({
    Owners: owners,
    Filters: [{ Name: `tag:${TAG.kubernetesVersion}`, Values: [bare, `v${bare}`] }],
  });
  const newest = tagged
    .filter((i) => i.ImageId && (i.State === undefined || i.State === 'available'))
    .sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
  if (!newest?.ImageId) {
    throw new ProviderError(
      'image.not-found',
      `no image owned by ${owners.join(', ')} is tagged ${TAG.kubernetesVersion}=${wanted.version}`,
      {
        hint: `pass --image, map the version in the provider's images setting, tag the AMI ${TAG.kubernetesVersion}=${wanted.version}, or name the account that shares it in --image-owners`,
      },
    );
  }
  return { imageId: newest.ImageId, facts: factsOf(newest) };
}

function factsOf(image: Image): ImageFacts {
  return { name: image.Name, owner: image.OwnerId, createdAt: image.CreationDate };
}

/**
 * An image built for another Kubernetes version (its tag, or the images map naming it for another version)
 * would boot a kubelet the cluster's kubeadm join refuses, or one outside the skew: refused before any change.
 */
function checkImageVersion(image: Image, imageId: string, version: string, map: Record<string, string> | undefined) {
  const norm = (v: string) => (v.startsWith('v') ? v : `v${v}`);
  const tagged = image.Tags?.find((t) => t.Key === TAG.kubernetesVersion)?.Value;
  const mapped = Object.entries(map ?? {}).find(([v, id]) => id === imageId && norm(v) !== norm(version))?.[0];
  const other = tagged && norm(tagged) !== norm(version) ? norm(tagged) : mapped;
  if (other) {
    throw new ProviderError(
      'image.version-mismatch',
      `image ${imageId} is for Kubernetes ${other} (${tagged ? `tag ${TAG.kubernetesVersion}` : 'the images setting'}), not ${version}`,
      { hint: `give --to ${other} to deploy it, or an image built for ${version}` },
    );
  }
}

/** Expected "not there" answers become problems; anything else (auth, network) stays an error. */
export function asProblem(error: unknown): ProviderProblem {
  if (error instanceof ProviderError && error.code !== 'aws.throttled' && error.code !== 'aws.request-failed') {
    return error.toProblem();
  }
  throw error;
}
