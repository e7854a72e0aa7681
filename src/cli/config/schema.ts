// The configuration schema, derived from the catalog: validation of merged settings (every problem together),
// the config file's structure (unknown keys named with the nearest known one) and its JSON Schema for editors.
import { z } from 'zod';
import type { Problem } from '../../domain/errors.ts';
import { DEFAULT_PROVIDER, PROVIDERS, SETTINGS, sectionSettings } from './catalog.ts';
import { type Command, envName, inScope, type Section, type SettingSpec } from './spec.ts';
import { nearest } from './suggest.ts';
import * as kit from './values.ts';

const schemas = new Map<SettingSpec, z.ZodType>();
/** The value schema of one setting, built once. */
export function schemaOf(spec: SettingSpec): z.ZodType {
  const known = schemas.get(spec);
  if (known) return known;
  const schema = spec.value(kit);
  schemas.set(spec, schema);
  return schema;
}

/** Where a merged value came from, to name it in a problem the way the user gave it. */
export type Origin = { kind: 'flag' } | { kind: 'env' } | { kind: 'file'; file: string } | { kind: 'default' };

export function nameOf(spec: SettingSpec, origin: Origin | undefined): string {
  switch (origin?.kind) {
    case 'env':
      return envName(spec);
    case 'file':
      return 'section' in spec.file && spec.file.section !== 'top' ? `${spec.file.section}.${spec.file.key}` : spec.key;
    default:
      return spec.flag ? `--${spec.flag}` : spec.key;
  }
}

/** Validates the merged values of the settings `command` takes; values of other commands are ignored. */
export function validateSettings(
  command: Command,
  merged: Record<string, unknown>,
  origins: Record<string, Origin>,
): { values: Record<string, unknown>; problems: Problem[]; refused: Set<string> } {
  const specs = SETTINGS.filter((s) => inScope(s, command));
  const shape = Object.fromEntries(specs.map((s) => [s.key, schemaOf(s).optional()]));
  const input = Object.fromEntries(specs.map((s) => [s.key, merged[s.key]]).filter(([, v]) => v !== undefined));
  const result = z.object(shape).safeParse(input, { reportInput: true });
  if (result.success) return { values: result.data, problems: [], refused: new Set() };
  const problems: Problem[] = [];
  const bad = new Set<string>();
  for (const issue of result.error.issues) {
    const key = String(issue.path[0]);
    const spec = specs.find((s) => s.key === key)!;
    bad.add(key);
    const own = issue.message.includes('{name}');
    const template = own ? issue.message : spec.invalid;
    const shown = own && issue.input !== undefined ? issue.input : input[key];
    const code = (issue.code === 'custom' && (issue.params?.['code'] as string | undefined)) || spec.code;
    const origin = origins[key];
    const where = origin?.kind === 'file' ? ` (in ${origin.file})` : '';
    const message = `${template.replaceAll('{name}', nameOf(spec, origin)).replaceAll('{value}', show(shown))}${where}`;
    if (!problems.some((p) => p.message === message)) problems.push({ code, message });
  }
  // Values that failed fall back to their default, so the caller still gets usable settings (e.g. --output).
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !bad.has(k)));
  const fallback = z.object(shape).safeParse(rest);
  return { values: fallback.success ? fallback.data : {}, problems, refused: bad };
}

const show = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

// ---- the config file --------------------------------------------------------------------------------------

function sectionShape(section: Section, leaf: (s: SettingSpec) => z.ZodType, specs = SETTINGS) {
  return Object.fromEntries(
    specs.flatMap((s) => ('section' in s.file && s.file.section === section ? [[s.file.key, leaf(s)]] : [])),
  );
}

/** The file's JSON Schema: every key typed, described and defaulted; unknown keys refused. */
export function configJsonSchema(): Record<string, unknown> {
  const leaf = (s: SettingSpec) => schemaOf(s).optional().describe(s.describe);
  const providers = PROVIDERS.map((p) => {
    const name = z.literal(p.name).describe('machine provider');
    return z.strictObject({
      name: p.name === DEFAULT_PROVIDER ? name.optional() : name,
      ...sectionShape('provider', leaf, sectionSettings(p)),
    });
  });
  const top = z.strictObject({
    ...sectionShape('top', leaf),
    etcd: z.strictObject(sectionShape('etcd', leaf)).optional().describe('etcd access'),
    provider: (providers.length === 1 ? providers[0]! : z.union(providers))
      .optional()
      .describe('the machine provider and its settings'),
  });
  const schema = z.toJSONSchema(top, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  // zod drops metadata defaults of transformed values (durations) in input mode: set them from the catalog.
  const properties = (node: JsonObject | undefined) => (node?.['properties'] ?? {}) as Record<string, JsonObject>;
  const sections: Record<Section, JsonObject[]> = {
    top: [schema],
    etcd: [properties(schema)['etcd']!],
    provider: [properties(schema)['provider']!].flatMap((p) => (p['anyOf'] as JsonObject[] | undefined) ?? [p]),
  };
  for (const spec of SETTINGS) {
    if (spec.default === undefined || !('section' in spec.file)) continue;
    for (const section of sections[spec.file.section]) {
      const property = properties(section)[spec.file.key];
      if (property) property['default'] = spec.default;
    }
  }
  return { ...schema, title: 'kubeswap configuration file' };
}

type JsonObject = Record<string, unknown>;

/** Structure problems of a parsed config file: not a mapping, unknown keys (with the nearest known), forbidden keys. */
export function configFileProblems(doc: unknown, file: string): Problem[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    return [{ code: 'config.invalid', message: `config file ${file} is not a YAML mapping` }];
  const problems: Problem[] = [];
  const forbidden = new Map(SETTINGS.flatMap((s) => ('forbidden' in s.file ? [[s.key, s.file.forbidden]] : [])));
  const check = (value: unknown, known: string[], prefix: string) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ code: 'config.invalid', message: `${prefix.slice(0, -1)} in ${file} must be a mapping` });
      return;
    }
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const reason = prefix === '' ? forbidden.get(key) : undefined;
      if (reason) {
        problems.push({ code: 'config.forbidden-key', message: `${key} cannot be set in ${file}: ${reason}` });
        continue;
      }
      const guess = nearest(key, known);
      problems.push({
        code: 'config.unknown-key',
        message: `unknown key ${prefix}${key} in ${file}${guess ? ` (did you mean ${prefix}${guess}?)` : ''}`,
        hint: 'kubeswap config schema prints every key the file may hold',
      });
    }
  };
  const keys = (section: Section, specs = SETTINGS) => Object.keys(sectionShape(section, () => z.unknown(), specs));
  const record = doc as Record<string, unknown>;
  check(record, [...keys('top'), 'etcd', 'provider'], '');
  if (record['etcd'] !== undefined) check(record['etcd'], keys('etcd'), 'etcd.');
  const provider = record['provider'];
  if (provider !== undefined) {
    const name = (provider as { name?: unknown } | null)?.name ?? DEFAULT_PROVIDER;
    const section = PROVIDERS.find((p) => p.name === name);
    // An unknown provider name is reported by the `provider` setting itself.
    if (section) check(provider, ['name', ...keys('provider', sectionSettings(section))], 'provider.');
  }
  return problems;
}
