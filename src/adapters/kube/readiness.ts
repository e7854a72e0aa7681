// The Kubernetes side of the ReadinessPort: per-apiserver /version and /metrics (each apiserver addressed directly,
// with the kubeconfig's credentials), stored manifests (last-applied annotations, Helm 3 release Secrets), add-on
// and static pod images, the CA bundles and our own client certificate. Read-only; every list is paged and bounded.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { gunzipSync } from 'node:zlib';
import type { KubeConfig } from '@kubernetes/client-node';
import { bulkhead } from 'cockatiel';
import { parse as parseYaml } from 'yaml';
import { DEPRECATED_APIS_METRIC } from '../../domain/readiness/deprecated-metric.ts';
import {
  LAST_APPLIED_ANNOTATION,
  lastAppliedObject,
  manifestObjects,
} from '../../domain/readiness/stored-manifests.ts';
import { firstToExpire } from '../../domain/readiness/x509.ts';
import type {
  AddonVersion,
  ApiserverEndpoint,
  ReadinessPort,
  StaticPodVersion,
  StoredObject,
  StoredScan,
} from '../../ports/readiness.ts';
import { type KubeconfigOptions, loadKubeconfig } from './config.ts';

export type KubeReadiness = Omit<ReadinessPort, 'servingCertificate' | 'etcdStatus'>;

const APISERVER_ENDPOINT = 'kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint';
const ETCD_CLIENT_URLS = 'kubeadm.kubernetes.io/etcd.advertise-client-urls';
/** etcd's default space quota (server/storage/quota.go DefaultQuotaBytes: 2 GiB). */
export const ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

/** Bounds of the stored-manifest scan: pages of PAGE objects, at most PAGES pages per kind (and for Helm releases). */
export const SCAN_BOUNDS = { page: 500, pages: 10, helmPage: 50, helmPages: 20, concurrentKinds: 4 } as const;
const REQUEST_TIMEOUT_MS = 15_000;

interface PodItem {
  metadata?: { name?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: { nodeName?: string; containers?: { image?: string; command?: string[] }[] };
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function openKubeReadiness(options: KubeconfigOptions): KubeReadiness {
  const { kc, summary } = loadKubeconfig(options);
  const get = (
    path: string,
    server = summary.server,
    accept = 'application/json',
    keepLine?: (line: string) => boolean,
  ) => httpsGet(kc, `${server.replace(/\/$/, '')}${path}`, accept, keepLine);
  const getJson = async <T>(path: string, server?: string) => JSON.parse(await get(path, server)) as T;
  // Three checks read the control-plane pods, side by side: while one read is in flight the others share it.
  let podsInFlight: Promise<PodItem[]> | undefined;
  const controlPlanePods = () => {
    podsInFlight ??= getJson<{ items: PodItem[] }>(
      '/api/v1/namespaces/kube-system/pods?labelSelector=tier%3Dcontrol-plane',
    ).then((list) => list.items);
    const read = podsInFlight;
    void read
      .finally(() => {
        if (podsInFlight === read) podsInFlight = undefined;
      })
      .catch(() => undefined);
    return read;
  };

  return {
    apiserverEndpoints: async () =>
      (await controlPlanePods()).flatMap((p) => {
        const endpoint = p.metadata?.annotations?.[APISERVER_ENDPOINT];
        return endpoint && p.spec?.nodeName ? [{ node: p.spec.nodeName, url: `https://${endpoint}` }] : [];
      }),
    apiserverVersion: async (endpoint: ApiserverEndpoint) =>
      (await getJson<{ gitVersion: string }>('/version', endpoint.url)).gitVersion,
    // An apiserver's /metrics is megabytes (2.7 MB each in the sandbox, more on a busy cluster): only the deprecated-API
    // gauge's lines are kept as the text streams in, not three whole expositions at once.
    apiserverMetrics: (endpoint: ApiserverEndpoint) =>
      get('/metrics', endpoint.url, 'text/plain', (line) => line.startsWith(DEPRECATED_APIS_METRIC)),
    staticPodVersions: async () =>
      (await controlPlanePods()).flatMap((p): StaticPodVersion[] => {
        const component = p.metadata?.labels?.['component'];
        const image = p.spec?.containers?.[0]?.image;
        if (!component || !image || !p.spec?.nodeName) return [];
        if (!['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'].includes(component)) return [];
        const endpoint = p.metadata?.annotations?.[ETCD_CLIENT_URLS]?.split(',')[0];
        return [
          {
            node: p.spec.nodeName,
            component: component as StaticPodVersion['component'],
            version: imageTag(image),
            ...(endpoint ? { endpoint } : {}),
          },
        ];
      }),
    addonVersions: async () => {
      const read = async (path: string, component: AddonVersion['component'], object: string) => {
        try {
          const o = await getJson<{ spec?: { template?: { spec?: { containers?: { image?: string }[] } } } }>(path);
          const image = o.spec?.template?.spec?.containers?.[0]?.image;
          return image ? [{ component, object, version: imageTag(image) }] : [];
        } catch (err) {
          if (!(err instanceof HttpStatusError && err.status === 404)) throw err;
          return [];
        }
      };
      const found = await Promise.all([
        read('/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy', 'kube-proxy', 'kube-system/kube-proxy'),
        read('/apis/apps/v1/namespaces/kube-system/deployments/coredns', 'coredns', 'kube-system/coredns'),
      ]);
      return found.flat();
    },
    storedObjects: async (kinds) => {
      // Kinds side by side, a few at a time (each is paged); each kind's part of the scan kept in the kinds' order.
      const limit = bulkhead(SCAN_BOUNDS.concurrentKinds, kinds.length + 1);
      const parts = await Promise.all([
        ...kinds.map((kind) =>
          limit.execute(async () => {
            const part: StoredScan = { objects: [], incomplete: [] };
            await scanLastApplied(getJson, kind, part);
            return part;
          }),
        ),
        limit.execute(async () => {
          const part: StoredScan = { objects: [], incomplete: [] };
          await scanHelmReleases(getJson, part);
          return part;
        }),
      ]);
      return {
        objects: parts.flatMap((p) => p.objects),
        incomplete: parts.flatMap((p) => p.incomplete),
      };
    },
    clusterCa: async () => {
      const cm = await getJson<{ data?: Record<string, string> }>(
        '/api/v1/namespaces/kube-public/configmaps/cluster-info',
      ).catch((err: unknown) => {
        if (err instanceof HttpStatusError && err.status === 404) return undefined;
        throw err;
      });
      const kubeconfig = cm?.data?.['kubeconfig'];
      if (!kubeconfig) return undefined;
      const doc = parseYaml(kubeconfig) as { clusters?: { cluster?: Record<string, string> }[] };
      const caData = doc.clusters?.[0]?.cluster?.['certificate-authority-data'];
      return caData ? firstToExpire(Buffer.from(caData, 'base64').toString('utf8')) : undefined;
    },
    frontProxyCa: async () => {
      const cm = await getJson<{ data?: Record<string, string> }>(
        '/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication',
      );
      const pem = cm.data?.['requestheader-client-ca-file'];
      return pem ? firstToExpire(pem) : undefined;
    },
    clientCertificate: () => {
      const user = kc.getCurrentUser();
      const pem = user?.certData
        ? Buffer.from(user.certData, 'base64').toString('utf8')
        : user?.certFile
          ? readFileSync(user.certFile, 'utf8')
          : undefined;
      return pem ? firstToExpire(pem) : undefined;
    },
    etcdQuotaBytes: async () => {
      for (const pod of await controlPlanePods()) {
        if (pod.metadata?.labels?.['component'] !== 'etcd') continue;
        const flag = pod.spec?.containers?.[0]?.command?.find((c) => c.startsWith('--quota-backend-bytes='));
        if (flag) return Number(flag.split('=')[1]);
      }
      return ETCD_DEFAULT_QUOTA_BYTES;
    },
  };
}

type GetJson = <T>(path: string) => Promise<T>;

/**
 * Objects of one kind whose last-applied annotation names an apiVersion. Read as metadata only (PartialObjectMetadata
 * would need a server-side Accept negotiation per kind; the full list is paged at SCAN_BOUNDS.page instead) and at
 * most SCAN_BOUNDS.pages pages: beyond that the kind is reported as incomplete rather than read without bound.
 */
async function scanLastApplied(
  getJson: GetJson,
  kind: { apiVersion: string; kind: string; resource: string },
  scan: StoredScan,
): Promise<void> {
  const base = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
  let token = '';
  for (let page = 0; ; page++) {
    if (page >= SCAN_BOUNDS.pages) {
      scan.incomplete.push(
        `${kind.kind} (${kind.apiVersion}): only the first ${SCAN_BOUNDS.page * SCAN_BOUNDS.pages} objects were read`,
      );
      return;
    }
    let list: {
      items: { metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> } }[];
      metadata?: { continue?: string };
    };
    try {
      list = await getJson(
        `${base}/${kind.resource}?limit=${SCAN_BOUNDS.page}${token ? `&continue=${encodeURIComponent(token)}` : ''}`,
      );
    } catch (err) {
      // Not served by this cluster (an API newer than it) or not listable: nothing of it is stored.
      if (err instanceof HttpStatusError && (err.status === 404 || err.status === 405)) return;
      scan.incomplete.push(`${kind.kind} (${kind.apiVersion}) not read: ${(err as Error).message}`);
      return;
    }
    for (const item of list.items) {
      const annotation = item.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
      if (!annotation) continue;
      const object = lastAppliedObject(annotation, item.metadata?.namespace);
      if (!object) continue;
      const live = item.metadata?.namespace ? `${item.metadata.namespace}/${item.metadata?.name}` : item.metadata?.name;
      scan.objects.push({ ...object, via: 'last-applied', owner: `${kind.kind} ${live} (last-applied)` });
    }
    token = list.metadata?.continue ?? '';
    if (!token) return;
  }
}

/**
 * Helm 3 stores each release revision in a Secret of type helm.sh/release.v1 (labels owner=helm, name, version,
 * status). Its `release` value is base64 of the gzipped release JSON (helm pkg/storage/driver/util.go encodeRelease),
 * itself base64-encoded again as Secret data. Only the deployed revision of each release matters: superseded ones
 * are history. Listing Secrets cluster-wide needs `list secrets` (RBAC cannot narrow it to one type); without it the
 * scan says so instead of failing.
 */
async function scanHelmReleases(getJson: GetJson, scan: StoredScan): Promise<void> {
  let token = '';
  for (let page = 0; ; page++) {
    if (page >= SCAN_BOUNDS.helmPages) {
      scan.incomplete.push(
        `Helm releases: only the first ${SCAN_BOUNDS.helmPage * SCAN_BOUNDS.helmPages} deployed releases were read`,
      );
      return;
    }
    let list: {
      items: { metadata?: { name?: string; namespace?: string }; data?: Record<string, string> }[];
      metadata?: { continue?: string };
    };
    try {
      list = await getJson(
        `/api/v1/secrets?fieldSelector=${encodeURIComponent('type=helm.sh/release.v1')}&labelSelector=${encodeURIComponent('owner=helm,status=deployed')}&limit=${SCAN_BOUNDS.helmPage}${token ? `&continue=${encodeURIComponent(token)}` : ''}`,
      );
    } catch (err) {
      scan.incomplete.push(`Helm releases not read: ${(err as Error).message}`);
      return;
    }
    for (const secret of list.items) {
      const where = `${secret.metadata?.namespace}/${secret.metadata?.name}`;
      const release = decodeHelmRelease(secret.data?.['release']);
      if (!release) {
        scan.incomplete.push(`Helm release Secret ${where} could not be decoded`);
        continue;
      }
      const owner = `${release.namespace ?? secret.metadata?.namespace}/${release.name} v${release.version}`;
      for (const object of manifestObjects(release.manifest ?? '', release.namespace)) {
        scan.objects.push({ ...object, via: 'helm', owner } satisfies StoredObject);
      }
    }
    token = list.metadata?.continue ?? '';
    if (!token) return;
  }
}

interface HelmRelease {
  name?: string;
  namespace?: string;
  version?: number;
  manifest?: string;
}

/** Secret data (base64) -> Helm's base64 -> gzip (magic 1f 8b; Helm reads plain JSON too) -> JSON. */
export function decodeHelmRelease(secretData: string | undefined): HelmRelease | undefined {
  if (!secretData) return undefined;
  try {
    const helmEncoded = Buffer.from(secretData, 'base64').toString('utf8');
    const bytes = Buffer.from(helmEncoded, 'base64');
    const json = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
    return JSON.parse(json) as HelmRelease;
  } catch {
    return undefined;
  }
}

/** `registry.k8s.io/kube-proxy:v1.36.3` -> `v1.36.3` (a digest is dropped). */
export function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(colon + 1) : 'latest';
}

/**
 * GET with the kubeconfig's credentials (client certificate or token) against any apiserver URL. With `keepLine`, a
 * successful body is read line by line as it arrives and only the lines kept are returned (joined by newlines).
 */
async function httpsGet(
  kc: KubeConfig,
  url: string,
  accept: string,
  keepLine?: (line: string) => boolean,
): Promise<string> {
  const options: Parameters<typeof request>[1] & { headers: Record<string, string> } = {
    method: 'GET',
    headers: { Accept: accept, 'User-Agent': 'kubeswap' },
    timeout: REQUEST_TIMEOUT_MS,
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const chunks: Buffer[] = [];
      const lines = keepLine && ok ? linesKept(keepLine) : undefined;
      // Decoded as UTF-8 by the stream, so a character split across two chunks is not broken.
      if (lines) res.setEncoding('utf8');
      res.on('data', (chunk: Buffer | string) => {
        if (lines) lines.push(chunk as string);
        else chunks.push(chunk as Buffer);
      });
      res.on('end', () => {
        if (lines) {
          resolve(lines.end());
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        if (ok) resolve(body);
        else reject(new HttpStatusError(status, `GET ${url}: HTTP ${status} ${statusMessage(body)}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(new Error(`GET ${url}: ${err.message}`)));
    req.end();
  });
}

/** Text pushed in chunks, split into lines; only the lines `keep` accepts are held, and `end` joins them. */
export function linesKept(keep: (line: string) => boolean): { push(chunk: string): void; end(): string } {
  const kept: string[] = [];
  // A line may straddle two chunks: the text after the last newline waits for the next one.
  let partial = '';
  return {
    push(chunk) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (keep(line)) kept.push(line);
    },
    end() {
      if (partial && keep(partial)) kept.push(partial);
      partial = '';
      return kept.join('\n');
    },
  };
}

function statusMessage(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? '';
  } catch {
    return body.slice(0, 200);
  }
}
