// What one setting is: the single description from which the flag, its help line, the KUBESWAP_* variable, the
// config-file key, the JSON Schema entry, the default and the validation are all derived.
import type { z } from 'zod';
import type * as ValueKit from './values.ts';

export type Command = 'plan' | 'apply' | 'status' | 'unlock' | 'abandon' | 'report';
/** global: every command; upgrade: plan and apply; plan, apply, unlock, report: that command only. */
export type Scope = 'global' | 'upgrade' | 'plan' | 'apply' | 'unlock' | 'report';
export type Section = 'top' | 'etcd' | 'provider';

export const HELP_GROUPS = {
  cluster: 'Cluster access:',
  target: 'Target:',
  safety: 'Safety:',
  etcd: 'etcd access:',
  provider: 'Provider:',
  render: 'Render mode (--user-data render):',
  output: 'Output:',
} as const;
export type HelpGroup = keyof typeof HELP_GROUPS;

export interface SettingSpec {
  /** camelCase name: the key after merging, yargs' camelCase alias, and the config-file key unless `file` says else. */
  key: string;
  /** The flag without dashes; none for settings only a config file can hold (maps such as `images`). */
  flag?: string;
  alias?: string;
  scope: Scope;
  group: HelpGroup;
  describe: string;
  /** How yargs and the environment read the raw text. */
  kind: 'string' | 'boolean' | 'number' | 'map';
  choices?: readonly string[];
  /**
   * Validates and converts a value from any layer (message templates: values.ts). A function of the value kit so
   * that zod loads only when settings are validated, not for --help.
   */
  value: (kit: typeof ValueKit) => z.ZodType;
  default?: string | number | boolean;
  /** Shown in help when the default is decided elsewhere (e.g. $KUBECONFIG). */
  defaultText?: string;
  /** Where a config file holds it, or why it cannot. */
  file: { section: Section; key: string } | { forbidden: string };
  /** false: never read from a KUBESWAP_* variable (a consent that must be given on the command line). */
  env?: false;
  /** A path: in a config file, relative to the file's folder. */
  path?: boolean;
  /** Problem code for values the schema refuses without a code of its own. */
  code: string;
  /** Message for such values. */
  invalid: string;
}

/** Where a provider-section setting sits in a config file: `provider.<key>`. */
export const inProvider = (key: string) => ({ section: 'provider' as const, key });

/** Fills the fields most settings share; `file` defaults to the top level under the same key. */
export function setting(
  spec: Omit<SettingSpec, 'file' | 'code' | 'invalid'> & Partial<Pick<SettingSpec, 'file' | 'code' | 'invalid'>>,
): SettingSpec {
  return {
    file: { section: 'top', key: spec.key },
    code: `input.${spec.flag ?? spec.key}`,
    invalid: spec.choices
      ? `{name} must be ${spec.choices.join(' or ')}, got {value}`
      : `{name} has an invalid value {value}`,
    ...spec,
  };
}

export const inScope = (spec: SettingSpec, command: Command): boolean =>
  spec.scope === 'global' ||
  (spec.scope === 'upgrade' && (command === 'plan' || command === 'apply')) ||
  (spec.scope === 'plan' && command === 'plan') ||
  (spec.scope === 'apply' && command === 'apply') ||
  (spec.scope === 'unlock' && command === 'unlock') ||
  (spec.scope === 'report' && command === 'report');

export const envName = (spec: SettingSpec): string =>
  `KUBESWAP_${(spec.flag ?? spec.key.replace(/[A-Z]/g, (c) => `-${c}`)).replace(/-/g, '_').toUpperCase()}`;

/** Flags and KUBESWAP_* variables arrive as text: numbers and booleans are converted when they read as such. */
export function fromText(spec: SettingSpec, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  if (spec.kind === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
  }
  if (spec.kind === 'number' && /^\s*-?\d+(\.\d+)?\s*$/.test(raw)) return Number(raw);
  return raw;
}
