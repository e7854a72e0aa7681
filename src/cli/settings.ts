// One schema for configuration: defaults < config file < KUBESWAP_* env < flags, merged once,
// validated once with every problem reported together, read-only afterwards.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../domain/clock.ts';
import type { Problem } from '../domain/errors.ts';

export interface Settings {
  command: 'plan' | 'apply' | 'status' | 'unlock';
  to?: string;
  image?: string;
  force: boolean;
  yes: boolean;
  dryRun: boolean;
  kubeconfig?: string;
  context?: string;
  etcd: { endpoints: string[]; ca?: string; cert?: string; key?: string };
  provider: {
    name: string;
    region?: string;
    endpoint?: string;
    launchTemplate?: string;
    launchTemplateVersion?: string;
    targetGroupArn?: string;
    clusterName?: string;
    images: Record<string, string>;
    deregistrationDelaySeconds?: number;
    /** Keys of another provider's section (exec: command, timeout, ...), passed through unread. */
    [key: string]: unknown;
  };
  /** launch-template: the image bootstraps itself; render: kubeswap renders the kubeadm join (templates/). */
  userData: 'launch-template' | 'render';
  render: { certificateKey?: string; pkiDir?: string; caCert?: string; tokenTtlMs: number };
  maxSurge: 0 | 1;
  machineTimeoutMs: number;
  drainTimeoutMs: number;
  gatePasses: number;
  pollIntervalMs: number;
  snapshotDir: string;
  output: 'text' | 'json';
  summary?: string;
}

/** Flat keys, as flags (camelCased) and KUBESWAP_* env vars carry them. */
export type FlatInput = Record<string, unknown>;

const DEFAULTS: FlatInput = {
  force: false,
  yes: false,
  dryRun: false,
  provider: 'aws-ec2',
  maxSurge: 1,
  machineTimeout: '20m',
  drainTimeout: '10m',
  gatePasses: 3,
  pollInterval: '1s',
  snapshotDir: '.',
  output: 'text',
  userData: 'launch-template',
  tokenTtl: '1h',
};

/** Config-file shape -> flat keys: `etcd.endpoints` -> etcdEndpoints, `provider.region` -> region. */
export function flattenFile(doc: Record<string, unknown>): FlatInput {
  const flat: FlatInput = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'etcd' && value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) flat[`etcd${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
    } else if (
      key === 'provider' &&
      value &&
      typeof value === 'object' &&
      (value as { name?: unknown }).name === 'exec'
    ) {
      // The exec provider validates its own section (providers/exec/options.ts): kept whole, not flattened.
      const { name, ...section } = value as Record<string, unknown>;
      flat['provider'] = name;
      flat['execProvider'] = section;
    } else if (key === 'provider' && value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'name') flat['provider'] = v;
        else if (k === 'endpoint') flat['awsEndpoint'] = v;
        else flat[k] = v;
      }
    } else flat[key] = value;
  }
  return flat;
}

export function readConfigFile(file: string): { input: FlatInput; problems: Problem[] } {
  if (!existsSync(file))
    return { input: {}, problems: [{ code: 'config.not-found', message: `config file ${file} does not exist` }] };
  try {
    const doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      return {
        input: {},
        problems: [{ code: 'config.invalid', message: `config file ${file} is not a YAML mapping` }],
      };
    }
    return { input: flattenFile(doc as Record<string, unknown>), problems: [] };
  } catch (err) {
    return {
      input: {},
      problems: [{ code: 'config.invalid', message: `config file ${file}: ${(err as Error).message}` }],
    };
  }
}

const VERSION = /^v\d+\.\d+\.\d+$/;

export function resolveSettings(
  command: Settings['command'],
  layers: FlatInput[],
): { settings: Settings; problems: Problem[] } {
  const merged: FlatInput = Object.assign({}, DEFAULTS, ...layers.map(definedOnly));
  const problems: Problem[] = [];
  const str = (k: string) => (merged[k] === undefined || merged[k] === '' ? undefined : String(merged[k]));
  const bool = (k: string) => merged[k] === true || merged[k] === 'true';
  const duration = (k: string) => {
    const ms = parseDuration(merged[k] as string | number);
    if (ms === undefined)
      problems.push({
        code: 'input.duration',
        message: `--${kebab(k)} ${String(merged[k])} is not a duration (e.g. 90s, 15m, 1h)`,
      });
    return ms ?? 0;
  };
  const to = str('to');
  if (to !== undefined && !VERSION.test(to)) {
    problems.push({
      code: 'input.version',
      message: `--to ${to} is not a Kubernetes version like v1.37.2`,
      hint: 'give the full vMAJOR.MINOR.PATCH',
    });
  }
  if ((command === 'plan' || command === 'apply') && to === undefined && str('image') === undefined) {
    problems.push({ code: 'input.no-target', message: 'give --to vX.Y.Z, --image ID, or both' });
  }
  const maxSurge = Number(merged['maxSurge']);
  if (maxSurge !== 0 && maxSurge !== 1)
    problems.push({
      code: 'input.max-surge',
      message: `--max-surge must be 0 or 1, got ${String(merged['maxSurge'])}`,
    });
  const gatePasses = Number(merged['gatePasses']);
  if (!Number.isInteger(gatePasses) || gatePasses < 1)
    problems.push({ code: 'input.gate-passes', message: `--gate-passes must be a positive integer` });
  const output = str('output');
  if (output !== 'text' && output !== 'json')
    problems.push({ code: 'input.output', message: `--output must be text or json, got ${output}` });
  const endpoints = list(merged['etcdEndpoints']);
  for (const e of endpoints)
    if (!/^https?:\/\/[^/]+$/.test(e))
      problems.push({
        code: 'input.etcd-endpoint',
        message: `etcd endpoint ${e} is not a URL like https://10.0.0.1:2379`,
      });
  for (const k of ['etcdCa', 'etcdCert', 'etcdKey', 'kubeconfig', 'caCert'] as const) {
    const file = str(k);
    if (file && !existsSync(file))
      problems.push({ code: 'input.file-missing', message: `--${kebab(k)} ${file} does not exist` });
  }
  const provider = str('provider') ?? 'aws-ec2';
  if (provider !== 'aws-ec2' && provider !== 'exec')
    problems.push({ code: 'input.provider', message: `unknown provider ${provider} (known: aws-ec2, exec)` });
  if (provider === 'aws-ec2' && (command === 'plan' || command === 'apply') && !str('launchTemplate')) {
    problems.push({
      code: 'input.launch-template',
      message: 'the aws-ec2 provider needs --launch-template (id or name)',
    });
  }
  const userData = str('userData');
  if (userData !== 'launch-template' && userData !== 'render') {
    problems.push({
      code: 'input.user-data',
      message: `--user-data must be launch-template or render, got ${userData}`,
    });
  }
  const certificateKey = str('certificateKey');
  const pkiDir = str('pkiDir');
  if (certificateKey && pkiDir) {
    problems.push({ code: 'input.certificates', message: 'give --certificate-key or --pki-dir, not both' });
  }
  if ((certificateKey || pkiDir) && userData !== 'render') {
    problems.push({
      code: 'input.certificates',
      message: '--certificate-key and --pki-dir only apply with --user-data render',
    });
  }
  if (pkiDir && !existsSync(pkiDir))
    problems.push({ code: 'input.file-missing', message: `--pki-dir ${pkiDir} does not exist` });
  const tokenTtlMs = duration('tokenTtl');
  const images = (merged['images'] && typeof merged['images'] === 'object' ? merged['images'] : {}) as Record<
    string,
    string
  >;
  const settings: Settings = {
    command,
    to,
    image: str('image'),
    force: bool('force'),
    yes: bool('yes'),
    dryRun: bool('dryRun'),
    kubeconfig: str('kubeconfig'),
    context: str('context'),
    etcd: { endpoints, ca: str('etcdCa'), cert: str('etcdCert'), key: str('etcdKey') },
    provider: {
      name: provider,
      region: str('region'),
      endpoint: str('awsEndpoint'),
      launchTemplate: str('launchTemplate'),
      launchTemplateVersion: str('launchTemplateVersion'),
      targetGroupArn: str('targetGroupArn'),
      clusterName: str('clusterName'),
      images,
      deregistrationDelaySeconds:
        merged['deregistrationDelaySeconds'] === undefined ? undefined : Number(merged['deregistrationDelaySeconds']),
    },
    userData: userData === 'render' ? 'render' : 'launch-template',
    render: { certificateKey, pkiDir, caCert: str('caCert'), tokenTtlMs },
    maxSurge: maxSurge === 0 ? 0 : 1,
    machineTimeoutMs: duration('machineTimeout'),
    drainTimeoutMs: duration('drainTimeout'),
    pollIntervalMs: duration('pollInterval'),
    gatePasses,
    snapshotDir: str('snapshotDir') ?? '.',
    output: output === 'json' ? 'json' : 'text',
    summary: str('summary'),
  };
  // The exec provider's section goes through whole (see flattenFile); the provider validates it.
  if (provider === 'exec') {
    settings.provider = { images, ...(merged['execProvider'] as Record<string, unknown> | undefined), name: provider };
  }
  return { settings, problems };
}

function definedOnly(input: FlatInput): FlatInput {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}

function list(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : [value];
  return items
    .flatMap((v) => String(v).split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
