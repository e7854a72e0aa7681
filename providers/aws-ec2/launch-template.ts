// The configured launch template, resolved to an id and a version NUMBER: `$Latest`/`$Default`
// move when someone creates a version, and comparing machines against a moving label would
// replace (or skip) the wrong ones (kops resolves them the same way).
import type { ResponseLaunchTemplateData } from '@aws-sdk/client-ec2';
import type { Ec2Port } from './ec2-port.ts';
import { awsErrorName, ProviderError } from './errors.ts';

export interface ResolvedLaunchTemplate {
  id: string;
  name: string;
  /** Version number, as a string (the form RunInstances and the instance tag use). */
  version: string;
}

const NOT_FOUND = new Set([
  'InvalidLaunchTemplateName.NotFoundException',
  'InvalidLaunchTemplateName.MalformedException',
  'InvalidLaunchTemplateId.NotFound',
  'InvalidLaunchTemplateId.Malformed',
]);
const VERSION_NOT_FOUND = new Set([
  'InvalidLaunchTemplateId.VersionNotFound',
  'InvalidLaunchTemplateName.VersionNotFound',
]);

export function isLaunchTemplateId(ref: string): boolean {
  return /^lt-[0-9a-f]+$/.test(ref);
}

export async function resolveLaunchTemplate(
  ec2: Ec2Port,
  ref: string,
  version: string,
): Promise<ResolvedLaunchTemplate> {
  const notFound = (cause?: unknown) =>
    new ProviderError('launch-template.not-found', `launch template ${ref} does not exist`, {
      hint: 'check the launch template id or name in the provider settings and the region',
      cause,
    });
  let templates: Awaited<ReturnType<Ec2Port['describeLaunchTemplates']>>;
  try {
    templates = await ec2.describeLaunchTemplates(
      isLaunchTemplateId(ref) ? { LaunchTemplateIds: [ref] } : { LaunchTemplateNames: [ref] },
    );
  } catch (error) {
    if (NOT_FOUND.has(awsErrorName(error) ?? '')) throw notFound(error);
    throw error;
  }
  const template = templates[0];
  if (!template?.LaunchTemplateId) throw notFound();
  const id = template.LaunchTemplateId;
  const name = template.LaunchTemplateName ?? ref;
  const number =
    version === '$Latest'
      ? template.LatestVersionNumber
      : version === '$Default'
        ? template.DefaultVersionNumber
        : Number(version);
  if (number === undefined || !Number.isInteger(number) || number < 1) {
    throw new ProviderError('launch-template.version-not-found', `launch template ${name} has no version ${version}`);
  }
  // A pinned number must exist too; the labels always do.
  if (!version.startsWith('$')) await launchTemplateData(ec2, id, String(number));
  return { id, name, version: String(number) };
}

/** The data of one launch template version (to see whether it defines network interfaces). */
export async function launchTemplateData(
  ec2: Ec2Port,
  id: string,
  version: string,
): Promise<ResponseLaunchTemplateData> {
  const versionNotFound = (cause?: unknown) =>
    new ProviderError('launch-template.version-not-found', `launch template ${id} has no version ${version}`, {
      hint: 'use $Latest, $Default or an existing version number',
      cause,
    });
  try {
    const versions = await ec2.describeLaunchTemplateVersions({ LaunchTemplateId: id, Versions: [version] });
    const found = versions.find((v) => String(v.VersionNumber) === version);
    if (!found) throw versionNotFound();
    return found.LaunchTemplateData ?? {};
  } catch (error) {
    if (VERSION_NOT_FOUND.has(awsErrorName(error) ?? '')) throw versionNotFound(error);
    if (NOT_FOUND.has(awsErrorName(error) ?? '')) {
      throw new ProviderError('launch-template.not-found', `launch template ${id} does not exist`, { cause: error });
    }
    throw error;
  }
}
