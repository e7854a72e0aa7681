// One schema for configuration (config/catalog.ts): defaults < config file < KUBESWAP_* env < flags, merged once,
// validated once with every problem reported together, read-only afterwards.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Problem } from '../../domain/errors.ts';
import { CONTROL_PLANE_POOL } from '../../domain/model.ts';
import { type PoolSpec, poolSpecProblems } from '../../domain/pools.ts';
import { DEFAULT_PROVIDER, PROVIDERS, SETTING_BY_KEY, SETTINGS } from './catalog.ts';
import { configFileProblems, type Origin, schemaOf, validateSettings } from './schema.ts';
import { type Command, envName, fromText, inScope } from './spec.ts';

export interface Settings {
  command: Command;
  to?: string;
  image?: string;
  force: boolean;
  /** A patch downgrade (v1.37.2 -> v1.37.1) is refused unless asked for. */
  allowPatchDowngrade: boolean;
  /** A pre-release --to is refused unless asked for. */
  allowPrerelease: boolean;
  yes: boolean;
  /** plan: 5 when changes are pending, 0 when nothing is to do. */
  detailedExitcode: boolean;
  /** unlock: break a lock renewed within its TTL. */
  forceUnlock: boolean;
  /** report: the run to report on; default the latest. */
  runId?: string;
  dryRun: boolean;
  /** plan: save the plan here. */
  out?: string;
  /** false: run without driving an API load balancer (--no-load-balancer). */
  loadBalancer: boolean;
  kubeconfig?: string;
  context?: string;
  etcd: { endpoints: string[]; ca?: string; cert?: string; key?: string };
  /** The `provider:` section under its config-file keys: `name`, `images`, then the picked provider's own keys. */
  provider: { name: string; images: Record<string, string>; [key: string]: unknown };
  /** launch-template: the image bootstraps itself; render: kubeswap renders the kubeadm join (templates/). */
  userData: 'launch-template' | 'render';
  render: {
    certificateKey?: string;
    pkiDir?: string;
    caCert?: string;
    tokenTtlMs: number;
    bootstrapSecrets: 'user-data' | 'ssm';
  };
  maxSurge: 0 | 1;
  /** Worker pools, in the configured order, with each pool's machine selector for the provider. */
  workerPools: WorkerPoolSetting[];
  /** --pools: the pools picked (undefined: every configured pool). */
  pools?: string[];
  controlPlaneOnly: boolean;
  workersOnly: boolean;
  poolIntervalMs: number;
  deleteEmptyDirData: boolean;
  machineTimeoutMs: number;
  drainTimeoutMs: number;
  deregistrationTimeoutMs: number;
  terminationTimeoutMs: number;
  gatePasses: number;
  acceptRemovedApis: boolean;
  certWarningDays: number;
  gateTimeoutMs: number;
  pollIntervalMs: number;
  skipAddons: boolean;
  addonTimeoutMs: number;
  probeIntervalMs: number;
  /** undefined: ~/.kubeswap/snapshots/<cluster> (wiring.ts). */
  snapshotDir?: string;
  output: 'text' | 'json';
  summary?: string;
}

/** Flat keys, as flags (camelCased) and KUBESWAP_* env vars carry them. */
export type FlatInput = Record<string, unknown>;

/** Marks a layer's origin without adding an enumerable key; unmarked layers are flags. */
const ORIGIN = Symbol('origin');
type Layer = FlatInput & { [ORIGIN]?: Origin };
const withOrigin = (input: FlatInput, origin: Origin): FlatInput =>
  Object.defineProperty(input, ORIGIN, { value: origin, enumerable: false });

/** Config-file shape -> flat keys: `etcd.endpoints` -> etcdEndpoints, `provider.region` -> region. */
export function flattenFile(doc: Record<string, unknown>): FlatInput {
  const flat: FlatInput = {};
  const bySection = (section: string, key: string) =>
    SETTINGS.find((s) => 'section' in s.file && s.file.section === section && s.file.key === key)?.key;
  for (const [key, value] of Object.entries(doc)) {
    if ((key === 'etcd' || key === 'provider') && value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) flat[bySection(key, k) ?? k] = v;
    } else flat[bySection('top', key) ?? key] = value;
  }
  return flat;
}

/**
 * Reads, checks the structure of, and flattens a YAML config file. Paths in it are relative to its folder, so
 * a file can sit beside the certificates it names and be used from anywhere.
 */
export function readConfigFile(file: string): { input: FlatInput; problems: Problem[] } {
  const origin: Origin = { kind: 'file', file };
  if (!existsSync(file))
    return { input: {}, problems: [{ code: 'config.not-found', message: `config file ${file} does not exist` }] };
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    return {
      input: {},
      problems: [{ code: 'config.invalid', message: `config file ${file}: ${(err as Error).message}` }],
    };
  }
  const problems = configFileProblems(doc, file);
  if (problems.some((p) => p.code === 'config.invalid')) return { input: {}, problems };
  const flat = flattenFile(doc as Record<string, unknown>);
  const input: FlatInput = {};
  for (const [key, value] of Object.entries(flat)) {
    const spec = SETTING_BY_KEY.get(key);
    if (!spec || !('section' in spec.file)) continue; // reported above
    input[key] = spec.path && typeof value === 'string' ? configPath(file, value) : value;
  }
  return { input: withOrigin(input, origin), problems };
}

/** A path in the config file: `~/` is the home folder (as a shell would read it), else relative to the file. */
function configPath(file: string, value: string): string {
  if (value === '~' || value.startsWith('~/')) return path.join(homedir(), value.slice(1));
  return path.resolve(path.dirname(path.resolve(file)), value);
}

/**
 * The KUBESWAP_* variables of the settings `command` takes, read as one layer. Variables meant for another
 * command (KUBESWAP_YES for `status`) are ignored, as are names kubeswap does not know.
 */
export function readEnvironment(command: Command, env: NodeJS.ProcessEnv): FlatInput {
  const input: FlatInput = {};
  for (const spec of SETTINGS) {
    if (!spec.flag || !inScope(spec, command) || spec.env === false) continue;
    const raw = env[envName(spec)];
    if (raw !== undefined && raw !== '') input[spec.key] = fromText(spec, raw);
  }
  return withOrigin(input, { kind: 'env' });
}

export function resolveSettings(
  command: Command,
  layers: FlatInput[],
): { settings: Settings; problems: Problem[]; merged: FlatInput } {
  const merged: FlatInput = {};
  const origins: Record<string, Origin> = {};
  for (const spec of SETTINGS) {
    if (spec.default === undefined) continue;
    merged[spec.key] = spec.default;
    origins[spec.key] = { kind: 'default' };
  }
  for (const layer of layers as Layer[]) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined || value === '') continue;
      merged[key] = value;
      origins[key] = layer[ORIGIN] ?? { kind: 'flag' };
    }
  }
  const { values: v, problems, refused } = validateSettings(command, merged, origins);
  if (command === 'plan' || command === 'apply') problems.push(...crossProblems(v, refused));
  return { settings: toSettings(command, v), problems, merged };
}

/**
 * The settings a saved plan keeps (`plan --out`): what shapes the run, as given (defaults included, so a later
 * kubeswap default does not change a reviewed plan). Never a secret (the certificate key, the exec command's
 * environment), a consent, or a local path (plan and apply often run on different machines).
 */
export function planSettings(merged: FlatInput): FlatInput {
  const kept: FlatInput = {};
  for (const spec of SETTINGS) {
    if (!inScope(spec, 'apply') || spec.path || NOT_IN_PLAN.has(spec.key)) continue;
    if (spec.group === 'cluster' || spec.group === 'etcd' || spec.group === 'output') continue;
    if (merged[spec.key] !== undefined) kept[spec.key] = merged[spec.key];
  }
  return kept;
}
const NOT_IN_PLAN = new Set(['certificateKey', 'execEnv', 'yes', 'dryRun', 'pollInterval', 'probeInterval']);

/** A saved plan's settings as a layer above the config file and the environment, named after the plan file. */
export function savedPlanLayer(saved: Record<string, unknown>, file: string): FlatInput {
  const input: FlatInput = {};
  for (const [key, value] of Object.entries(saved)) if (SETTING_BY_KEY.has(key)) input[key] = value;
  return withOrigin(input, { kind: 'file', file });
}

export interface WorkerPoolSetting extends PoolSpec {
  /** aws-ec2: the pool is the instances carrying this tag (`Key=Value`), or else ... */
  tag?: string;
  /** ... those launched from this launch template (id or name); replacements launch from it (default: the old one's). */
  launchTemplate?: string;
  /** cluster-api: the pool is this MachineDeployment of the cluster (absent: every one of them). */
  machineDeployment?: string;
}

function poolProblems(v: Record<string, unknown>): Problem[] {
  const pools = (v['workerPools'] as WorkerPoolSetting[] | undefined) ?? [];
  const problems = poolSpecProblems(pools, [CONTROL_PLANE_POOL]);
  // Cluster API pools are MachineDeployments: named, or every one of the cluster (providers/cluster-api checks).
  const selects =
    v['provider'] === 'cluster-api'
      ? () => true
      : (p: WorkerPoolSetting) => p.tag !== undefined || p.launchTemplate !== undefined;
  for (const p of pools) {
    if (!selects(p))
      problems.push({
        code: 'input.pool',
        message: `pool ${p.name}: give a tag (Key=Value) or a launchTemplate to say which machines are in it`,
      });
  }
  const picked = v['pools'] as string[] | undefined;
  for (const name of picked ?? []) {
    if (!pools.some((p) => p.name === name))
      problems.push({
        code: 'input.pool',
        message: `--pools names ${name}, which is not a configured pool (${pools.map((p) => p.name).join(', ') || 'none is configured'})`,
        hint: 'define the pool under workerPools in the config file',
      });
  }
  if (v['controlPlaneOnly'] === true && v['workersOnly'] === true)
    problems.push({ code: 'input.scope', message: 'give --control-plane-only or --workers-only, not both' });
  if (v['workersOnly'] === true && pools.length === 0)
    problems.push({
      code: 'input.scope',
      message: '--workers-only needs worker pools (workerPools in the config file)',
    });
  return problems;
}

/** Rules over several settings. A value refused on its own counts as given: one problem per mistake. */
function crossProblems(v: Record<string, unknown>, refused: Set<string>): Problem[] {
  const problems: Problem[] = poolProblems(v);
  const given = (k: string) => v[k] !== undefined || refused.has(k);
  if (!given('to') && !given('image'))
    problems.push({ code: 'input.no-target', message: 'give --to vX.Y.Z, --image ID, or both' });
  if (typeof v['to'] === 'string' && v['to'].includes('-') && v['allowPrerelease'] !== true)
    problems.push({
      code: 'input.prerelease',
      message: `--to ${v['to']} is a pre-release`,
      hint: 'pass --allow-prerelease to upgrade to it',
    });
  if (v['certificateKey'] && v['pkiDir'])
    problems.push({ code: 'input.certificates', message: 'give --certificate-key or --pki-dir, not both' });
  // kubeadm join --control-plane needs ca, sa, front-proxy-ca and etcd/ca: downloaded with a certificate key,
  // uploaded by kubeswap from --pki-dir, or already on the image. Without any, every join would fail.
  if (v['userData'] === 'render' && !given('certificateKey') && !given('pkiDir') && !given('certificates'))
    problems.push({
      code: 'input.certificates',
      message:
        'render mode needs the shared control-plane certificates: --certificate-key K (after kubeadm init phase upload-certs), --pki-dir DIR, or --certificates image when your image brings them',
    });
  if ((v['certificateKey'] || v['pkiDir']) && v['userData'] !== 'render')
    problems.push({
      code: 'input.certificates',
      message: '--certificate-key and --pki-dir only apply with --user-data render',
    });
  if (v['bootstrapSecrets'] === 'ssm' && v['userData'] !== 'render')
    problems.push({
      code: 'input.bootstrap-secrets',
      message: '--bootstrap-secrets ssm only applies with --user-data render (kubeswap writes no join otherwise)',
    });
  const provider = PROVIDERS.find((p) => p.name === (v['provider'] ?? DEFAULT_PROVIDER));
  if (provider) problems.push(...provider.problems(v));
  return problems;
}

/** The default of a setting, converted like a given value (`20m` -> ms): the catalog is the one place for defaults. */
function defaultValue(key: string): unknown {
  const spec = SETTING_BY_KEY.get(key);
  if (spec?.default === undefined) return undefined;
  const parsed = schemaOf(spec).safeParse(spec.default);
  return parsed.success ? parsed.data : undefined;
}

function toSettings(command: Command, values: Record<string, unknown>): Settings {
  // Settings of other commands (or refused values) take their default, so every field is defined.
  const v = new Proxy(values, { get: (target, key: string) => target[key] ?? defaultValue(key) });
  const str = (k: string) => v[k] as string | undefined;
  return {
    command,
    to: str('to'),
    image: str('image'),
    force: v['force'] === true,
    allowPatchDowngrade: v['allowPatchDowngrade'] === true,
    allowPrerelease: v['allowPrerelease'] === true,
    yes: v['yes'] === true,
    forceUnlock: v['forceUnlock'] === true,
    runId: str('runId'),
    detailedExitcode: v['detailedExitcode'] === true,
    dryRun: v['dryRun'] === true,
    out: str('out'),
    loadBalancer: v['loadBalancer'] !== false,
    kubeconfig: str('kubeconfig'),
    context: str('context'),
    etcd: {
      endpoints: (v['etcdEndpoints'] as string[] | undefined) ?? [],
      ca: str('etcdCa'),
      cert: str('etcdCert'),
      key: str('etcdKey'),
    },
    provider: providerSection(str('provider')!, v),
    userData: v['userData'] === 'render' ? 'render' : 'launch-template',
    render: {
      certificateKey: str('certificateKey'),
      pkiDir: str('pkiDir'),
      caCert: str('caCert'),
      tokenTtlMs: v['tokenTtl'] as number,
      bootstrapSecrets: v['bootstrapSecrets'] === 'ssm' ? 'ssm' : 'user-data',
    },
    maxSurge: v['maxSurge'] === 0 ? 0 : 1,
    workerPools: (v['workerPools'] as WorkerPoolSetting[] | undefined) ?? [],
    pools: v['pools'] as string[] | undefined,
    controlPlaneOnly: v['controlPlaneOnly'] === true,
    workersOnly: v['workersOnly'] === true,
    poolIntervalMs: (v['poolInterval'] as number | undefined) ?? 0,
    deleteEmptyDirData: v['deleteEmptydirData'] === true,
    machineTimeoutMs: v['machineTimeout'] as number,
    drainTimeoutMs: v['drainTimeout'] as number,
    deregistrationTimeoutMs: v['deregistrationTimeout'] as number,
    terminationTimeoutMs: v['terminationTimeout'] as number,
    pollIntervalMs: v['pollInterval'] as number,
    skipAddons: v['skipAddons'] === true,
    addonTimeoutMs: v['addonTimeout'] as number,
    probeIntervalMs: v['probeInterval'] as number,
    gatePasses: v['gatePasses'] as number,
    acceptRemovedApis: v['acceptRemovedApis'] === true,
    certWarningDays: v['certWarningDays'] as number,
    gateTimeoutMs: v['gateTimeout'] as number,
    snapshotDir: str('snapshotDir'),
    output: v['output'] === 'json' ? 'json' : 'text',
    summary: str('summary'),
  };
}

/** The picked provider's settings under their config-file keys, as the provider module reads them. */
function providerSection(name: string, v: Record<string, unknown>): Settings['provider'] {
  const section: Settings['provider'] = { name, images: (v['images'] as Record<string, string> | undefined) ?? {} };
  // Each worker pool's machine selector is the provider's to read (aws-ec2: a tag or a launch template).
  const pools = (v['workerPools'] as WorkerPoolSetting[] | undefined) ?? [];
  if (pools.length > 0)
    section['pools'] = pools.map(({ name, tag, launchTemplate, machineDeployment }) => ({
      name,
      tag,
      launchTemplate,
      ...(machineDeployment !== undefined ? { machineDeployment } : {}),
    }));
  for (const spec of PROVIDERS.find((p) => p.name === name)?.settings ?? []) {
    if ('section' in spec.file && v[spec.key] !== undefined) section[spec.file.key] = v[spec.key];
  }
  return section;
}
