// kube-proxy and CoreDNS for the fake world, as kubeadm v1.36.3 installs them. Spec: setting an image bumps the
// generation and starts a rollout; each later read moves it one pod on (observed, then one more updated pod per
// read) until every pod runs the new template, unless `stalled` holds it.
import type {
  ConfigMapView,
  KubePort,
  WorkloadKind,
  WorkloadView,
  WorkloadWatchHandlers,
} from '../../../src/ports/kube.ts';
import { KUBEADM_COREFILE } from '../../domain/addons/fixtures.ts';

export const PROXY_CONFIG =
  'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n';

export function workload(kind: WorkloadKind, name: string, image: string, desired: number): WorkloadView {
  const app = name === 'coredns' ? 'kube-dns' : 'kube-proxy';
  return {
    kind,
    namespace: 'kube-system',
    name,
    labels: { 'k8s-app': app },
    annotations: {},
    containers: [{ name, image }],
    configMaps: [name],
    generation: 1,
    observedGeneration: 1,
    desired,
    updated: desired,
    available: desired,
    total: desired,
  };
}

export class FakeAddons {
  readonly workloads = new Map<string, WorkloadView>();
  stalled = new Set<string>();
  imageSets: string[] = [];
  /** getWorkload calls. */
  reads = 0;
  /** Each workload as it was before its last image change: what a lagging watch cache first shows. */
  private readonly before = new Map<string, WorkloadView>();
  private readonly watchers = new Map<string, WorkloadWatchHandlers>();

  constructor(
    private readonly configMaps: Map<string, ConfigMapView>,
    options: { corefile?: string; kubeProxy?: boolean } = {},
  ) {
    if (options.kubeProxy !== false) {
      this.workloads.set(
        'DaemonSet/kube-proxy',
        workload('DaemonSet', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.36.3', 3),
      );
      this.configMap('kube-proxy', { 'config.conf': PROXY_CONFIG });
    }
    this.workloads.set(
      'Deployment/coredns',
      workload('Deployment', 'coredns', 'registry.k8s.io/coredns/coredns:v1.14.2', 2),
    );
    this.configMap('coredns', { Corefile: options.corefile ?? KUBEADM_COREFILE });
  }

  configMap(name: string, data: Record<string, string>) {
    this.configMaps.set(`kube-system/${name}`, {
      namespace: 'kube-system',
      name,
      data,
      labels: {},
      annotations: {},
      resourceVersion: '1',
    });
  }

  image(key: string): string {
    return this.workloads.get(key)!.containers[0]!.image;
  }

  /** Adds the workload calls to a KubePort. */
  install(kube: KubePort): void {
    kube.getWorkload = async (kind, _namespace, name) => {
      this.reads++;
      const w = this.workloads.get(`${kind}/${name}`);
      if (!w) return undefined;
      this.advance(`${kind}/${name}`);
      return structuredClone(w);
    };
    kube.setContainerImage = async (kind, _namespace, name, container, image) => {
      const w = this.workloads.get(`${kind}/${name}`)!;
      this.before.set(`${kind}/${name}`, structuredClone(w));
      w.containers = w.containers.map((c) => (c.name === container ? { ...c, image } : c));
      w.generation++;
      w.updated = 0;
      w.total = w.desired + 1;
      this.imageSets.push(`${kind}/${name}=${image}`);
    };
  }

  /**
   * Adds watchWorkload: a watch first shows the workload as it was before its last image change (a watch cache that
   * lags the write), then each rollout step as the clock advances (`onSleep` of the fake world: chain it there).
   */
  installWatch(kube: KubePort): void {
    kube.watchWorkload = (kind, _namespace, name, handlers) => {
      const key = `${kind}/${name}`;
      this.watchers.set(key, handlers);
      handlers.onConnection(true);
      const first = this.before.get(key) ?? this.workloads.get(key);
      handlers.onWorkload(first && structuredClone(first));
      return () => this.watchers.delete(key);
    };
  }

  /** Time passed: each watched rollout moves one step on, and its watch shows it. */
  tick(): void {
    for (const [key, handlers] of this.watchers) {
      this.advance(key);
      const w = this.workloads.get(key);
      handlers.onWorkload(w && structuredClone(w));
    }
  }

  private advance(key: string): void {
    const w = this.workloads.get(key);
    if (!w || this.stalled.has(key)) return;
    if (w.observedGeneration < w.generation) w.observedGeneration = w.generation;
    else if (w.updated < w.desired) {
      w.updated++;
      w.available = w.updated;
    }
    if (w.updated >= w.desired) w.total = w.desired;
  }
}
