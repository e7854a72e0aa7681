// resolveDesired for a group: the target is a launch template version NUMBER of the group's template (the
// user's newest one, or with --update-launch-template one made from it with the target image) and its image.
import type { Desired } from '../../src/domain/model.ts';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import { asProblem, resolveImage } from '../aws-ec2/desired.ts';
import type { Ec2Port } from '../aws-ec2/ec2-port.ts';
import { ProviderError } from '../aws-ec2/errors.ts';
import { launchTemplateData, resolveLaunchTemplate } from '../aws-ec2/launch-template.ts';
import type { GroupFacts } from './group.ts';
import type { ResolvedAsgOptions } from './options.ts';

export async function resolveGroupDesired(
  ec2: Ec2Port,
  group: GroupFacts,
  options: ResolvedAsgOptions,
  wanted: { version: string; imageId?: string },
): Promise<{ desired?: Desired; problems: ProviderProblem[] }> {
  try {
    const target = await targetVersion(ec2, group, options, wanted);
    return {
      desired: { version: wanted.version, imageId: target.imageId, template: target.template, force: false },
      problems: [],
    };
  } catch (error) {
    return { problems: [asProblem(error)] };
  }
}

async function targetVersion(
  ec2: Ec2Port,
  group: GroupFacts,
  options: ResolvedAsgOptions,
  wanted: { version: string; imageId?: string },
): Promise<{ imageId: string; template: { id: string; version: string } }> {
  // Versions are numbers here: the group may say $Latest/$Default, which move when someone adds a version.
  const latest = await resolveLaunchTemplate(ec2, group.launchTemplate!.id, '$Latest');
  const latestImage = (await launchTemplateData(ec2, latest.id, latest.version)).ImageId ?? '';
  if (options.updateLaunchTemplate) {
    const { imageId } = await resolveImage(ec2, options, wanted);
    if (imageId === latestImage) return { imageId, template: { id: latest.id, version: latest.version } };
    // A new version from the newest one, only the image changed. Made at preflight (plan too): a version is
    // inert until the group uses it, and the next plan finds it as the newest instead of making another.
    const version = await ec2.createLaunchTemplateVersion({
      LaunchTemplateId: latest.id,
      SourceVersion: latest.version,
      VersionDescription: `kubeswap: ${wanted.version}`,
      LaunchTemplateData: { ImageId: imageId },
    });
    return { imageId, template: { id: latest.id, version: String(version) } };
  }
  if (wanted.imageId && wanted.imageId !== latestImage) {
    throw new ProviderError(
      'launch-template.image-mismatch',
      `launch template ${latest.name} version ${latest.version} (the newest) has image ${latestImage}, not ${wanted.imageId}`,
      { hint: 'create a launch template version with that image, or pass --update-launch-template' },
    );
  }
  // Checks the image exists and is not tagged for another Kubernetes version.
  const { imageId } = await resolveImage(ec2, options, { version: wanted.version, imageId: latestImage });
  return { imageId, template: { id: latest.id, version: latest.version } };
}
