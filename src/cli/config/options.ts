// The command-line surface (design.md "Command-line contract"), derived from the settings catalog. yargs only
// parses: no defaults here (they are shown in the help text), so settings.ts layers defaults < file < env < flags.
import type { Argv } from 'yargs';
import { SETTINGS } from './catalog.ts';
import type { FlatInput } from './settings.ts';
import { type Command, fromText, HELP_GROUPS, inScope, type Scope, type SettingSpec } from './spec.ts';

function helpLine(spec: SettingSpec): string {
  const choices = spec.choices ? ` (${spec.choices.join('|')})` : '';
  const fallback =
    spec.defaultText ?? (spec.default !== undefined && spec.kind !== 'boolean' ? String(spec.default) : '');
  return `${spec.describe}${choices}${fallback ? ` [default: ${fallback}]` : ''}`;
}

/** Declares the flags of one scope, each in its help group. */
export function addOptions(y: Argv, scope: Scope): Argv {
  for (const spec of SETTINGS) {
    if (spec.scope !== scope || !spec.flag) continue;
    y.option(spec.flag, {
      // Numbers are read as text and converted with the environment's rules, so `--max-surge two` is reported
      // as given instead of as NaN.
      type: spec.kind === 'boolean' ? 'boolean' : 'string',
      ...(spec.alias ? { alias: spec.alias } : {}),
      describe: helpLine(spec),
      group: HELP_GROUPS[spec.group],
    });
  }
  return y;
}

export const globalOptions = (y: Argv): Argv => addOptions(y, 'global');
export const upgradeOptions = (y: Argv): Argv => addOptions(y, 'upgrade');
export const planOptions = (y: Argv): Argv => addOptions(upgradeOptions(y), 'plan');
export const applyOptions = (y: Argv): Argv => addOptions(upgradeOptions(y), 'apply');
export const unlockOptions = (y: Argv): Argv => addOptions(y, 'unlock');
export const reportOptions = (y: Argv): Argv => addOptions(y, 'report');

/** yargs' camelCase name of a flag (`--max-surge` -> maxSurge). */
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** The flags given, under their setting keys, converted like the environment's text. */
export function flagLayer(command: Command, args: Record<string, unknown>): FlatInput {
  const input: FlatInput = {};
  for (const spec of SETTINGS) {
    const given = spec.flag ? args[camel(spec.flag)] : undefined;
    if (!spec.flag || !inScope(spec, command) || given === undefined) continue;
    input[spec.key] = fromText(spec, given);
  }
  return input;
}

/** Every flag, for "did you mean" on a mistyped one. */
export const ALL_FLAGS: string[] = SETTINGS.flatMap((s) => (s.flag ? [s.flag] : [])).concat(['help', 'version']);
