// The CLI's own settings for a sandbox: DIR/kubeswap.yaml plus overrides, through the same layering.
import { join } from 'node:path';
import { readConfigFile, resolveSettings, type Settings } from '../../src/cli/config/settings.ts';
import type { Sandbox } from '../sandbox/index.ts';

export function readSettingsForSandbox(sb: Sandbox, overrides: Record<string, unknown> = {}): Settings {
  const file = readConfigFile(join(sb.stateDir, 'kubeswap.yaml'));
  const { settings, problems } = resolveSettings('apply', [
    file.input,
    { to: sb.versions.to, yes: true, ...overrides },
  ]);
  const all = [...file.problems, ...problems];
  if (all.length > 0) throw new Error(all.map((p) => p.message).join('; '));
  return settings;
}
