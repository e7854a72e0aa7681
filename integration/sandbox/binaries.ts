// Locates (building when missing) the real components through integration/components/build.sh, which caches
// them outside the repo; only versions with a committed go.mod there can be used.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The folder build.sh caches components in (same rule as its CACHE variable). */
export const COMPONENT_CACHE =
  process.env.KUBESWAP_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kubeswap');

/** Where build.sh puts a Kubernetes binary of one version; it may not be built yet. */
export function kubernetesBinary(version: string, name: string): string {
  return join(COMPONENT_CACHE, `kubernetes-${version}`, name);
}

export interface ComponentVersions {
  from: string;
  to: string;
  etcd: string;
  kwok: string;
  clusterApi: string;
}

export function readVersions(root: string = repoRoot): ComponentVersions {
  const env = readFileSync(join(root, 'integration/components/versions.env'), 'utf8');
  const value = (key: string) => {
    const m = env.match(new RegExp(`^${key}=(\\S+)`, 'm'));
    if (!m?.[1]) throw new Error(`versions.env has no ${key}`);
    return m[1];
  };
  return {
    from: value('KUBERNETES_FROM'),
    to: value('KUBERNETES_TO'),
    etcd: value('ETCD_VERSION'),
    kwok: value('KWOK_VERSION'),
    clusterApi: value('CLUSTER_API_VERSION'),
  };
}

/** `1.36`, `v1.36` or `v1.36.3` -> the full version the repo builds for that minor. */
export function resolveVersion(requested: string | undefined, fallback: string, known: string[]): string {
  if (!requested) return fallback;
  const wanted = requested.startsWith('v') ? requested : `v${requested}`;
  const match = known.find((k) => k === wanted || k.startsWith(`${wanted}.`));
  if (!match) throw new Error(`no component build for Kubernetes ${requested}; known: ${known.join(', ')}`);
  return match;
}

/** Runs build.sh (a no-op when cached) and returns the folder it prints on its last line. */
export async function buildComponent(repoRoot: string, args: string[], log: (line: string) => void): Promise<string> {
  const script = join(repoRoot, 'integration/components/build.sh');
  log(`locating ${args.slice(0, 2).join(' ')}`);
  const { stdout, stderr } = await run('bash', [script, ...args], { maxBuffer: 64 * 1024 * 1024 });
  if (stderr.trim()) log(stderr.trim());
  const dir = stdout.trim().split('\n').pop() ?? '';
  if (!dir || !existsSync(dir)) throw new Error(`build.sh ${args.join(' ')} printed no folder`);
  return dir;
}

/** Where the kwok module (and so its Stage YAML) sits in the Go module cache. */
export async function kwokModuleDir(repoRoot: string): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', 'sigs.k8s.io/kwok'], {
    cwd: join(repoRoot, 'integration/components/kwok'),
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', GONOSUMDB: 'k8s.io,sigs.k8s.io,go.etcd.io' },
  });
  return (JSON.parse(stdout) as { Dir: string }).Dir;
}

export const FROM_BINARIES = ['kube-apiserver', 'kubeadm', 'kubectl'];
export const TO_BINARIES = ['kube-apiserver', 'kubeadm', 'kubectl', 'kube-controller-manager', 'kube-scheduler'];
