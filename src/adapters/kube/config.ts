// Kubeconfig loading with explicit sources. KubeConfig.loadFromDefault() silently falls back to
// http://localhost:8080 when it finds nothing, which would make a run talk to whatever listens there
// (or fail with a confusing "HTTP protocol is not allowed"), so we resolve the source ourselves.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeConfigError, type KubeIdentity } from './errors.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeconfigOptions {
  /** Path given with --kubeconfig; wins over $KUBECONFIG and ~/.kube/config. */
  kubeconfig?: string;
  /** Context given with --context; defaults to the kubeconfig's current-context. */
  context?: string;
}

export interface KubeconfigSummary extends KubeIdentity {
  /** Where the configuration came from: a file path, `$KUBECONFIG`, or `in-cluster`. */
  source: string;
}

export interface LoadedKubeconfig {
  kc: KubeConfig;
  summary: KubeconfigSummary;
}

/** Environment the loader reads, injectable for tests. */
export interface KubeconfigEnvironment {
  KUBECONFIG?: string;
  home?: string;
  exists?: (path: string) => boolean;
}

export function loadKubeconfig(options: KubeconfigOptions = {}, env?: KubeconfigEnvironment): LoadedKubeconfig {
  const kubeconfigEnv = env ? env.KUBECONFIG : process.env.KUBECONFIG;
  const home = env?.home ?? homedir();
  const exists = env?.exists ?? existsSync;
  const kc = new KubeConfig();
  let source: string;
  try {
    if (options.kubeconfig) {
      if (!exists(options.kubeconfig)) {
        throw new KubeConfigError(`kubeconfig ${options.kubeconfig} does not exist (given with --kubeconfig)`);
      }
      kc.loadFromFile(options.kubeconfig);
      source = options.kubeconfig;
    } else if (kubeconfigEnv) {
      // Merged like kubectl: the first file that sets current-context wins; missing files are skipped.
      const files = kubeconfigEnv.split(delimiter).filter((f) => f && exists(f));
      if (files.length === 0) throw new KubeConfigError(`no file named in $KUBECONFIG exists (${kubeconfigEnv})`);
      kc.loadFromFile(files[0]!);
      for (const file of files.slice(1)) mergeFirstWins(kc, file);
      source = `$KUBECONFIG (${files.join(':')})`;
    } else if (exists(join(home, '.kube', 'config'))) {
      source = join(home, '.kube', 'config');
      kc.loadFromFile(source);
    } else if (exists(SERVICE_ACCOUNT_TOKEN)) {
      kc.loadFromCluster();
      source = 'in-cluster';
    } else {
      throw new KubeConfigError(
        'no kubeconfig found: pass --kubeconfig FILE, set $KUBECONFIG, or create ~/.kube/config ' +
          '(kubeswap never falls back to http://localhost:8080)',
      );
    }
  } catch (err) {
    if (err instanceof KubeConfigError) throw err;
    throw new KubeConfigError(`cannot read kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  return { kc, summary: selectContext(kc, options.context, source) };
}

/** kubectl's merge: an entry already defined by an earlier file wins (KubeConfig.mergeConfig throws instead). */
function mergeFirstWins(kc: KubeConfig, file: string): void {
  const next = new KubeConfig();
  next.loadFromFile(file);
  for (const cluster of next.getClusters()) if (!kc.getCluster(cluster.name)) kc.addCluster(cluster);
  for (const user of next.getUsers()) if (!kc.getUser(user.name)) kc.addUser(user);
  for (const context of next.getContexts()) if (!kc.getContextObject(context.name)) kc.addContext(context);
  if (!kc.getCurrentContext() && next.getCurrentContext()) kc.setCurrentContext(next.getCurrentContext());
}

/** Switches to `context` (when given) and checks that it names a cluster and a user. */
export function selectContext(kc: KubeConfig, context: string | undefined, source: string): KubeconfigSummary {
  const known = kc.getContexts().map((c) => c.name);
  if (context) {
    if (!kc.getContextObject(context)) {
      throw new KubeConfigError(
        `context "${context}" is not in ${source}; known contexts: ${known.join(', ') || '(none)'}`,
      );
    }
    kc.setCurrentContext(context);
  }
  const current = kc.getCurrentContext();
  if (!current) {
    throw new KubeConfigError(
      `${source} has no current-context: pass --context (known: ${known.join(', ') || 'none'})`,
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new KubeConfigError(`context "${current}" in ${source} names no cluster with a server`);
  const user = kc.getCurrentUser();
  if (!user) throw new KubeConfigError(`context "${current}" in ${source} names no user`);
  return { server: cluster.server, context: current, user: user.name, source };
}

/** One line for messages: `https://10.0.0.1:6443 as admin (context prod, from /home/me/.kube/config)`. */
export function describeKubeconfig(summary: KubeconfigSummary): string {
  return `${summary.server} as ${summary.user} (context ${summary.context}, from ${summary.source})`;
}
