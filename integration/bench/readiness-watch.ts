// Watches the sandbox independently of kubeswap: the first moment each new machine has joined as
// notes/kubernetes.md §4.2 defines it (Node Ready, its four control-plane static pods Ready, its etcd
// member a started voter). The benchmark compares kubeswap's next step against it. Nodes and pods
// come from watches (no polling load on the 2-core box); etcd membership is polled every 100 ms.
import * as k8s from '@kubernetes/client-node';
import { staticPodsOf } from '../../src/adapters/kube/nodes.ts';
import { CONTROL_PLANE_COMPONENTS } from '../../src/domain/model.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { sandboxEtcd } from '../scenarios/harness.ts';

export class ReadinessWatch {
  private readonly readyAt = new Map<string, number>();
  private readonly nodes = new Map<string, k8s.V1Node>();
  private readonly pods = new Map<string, k8s.V1Pod>();
  private voters = new Set<string>();
  private stopped = false;
  private readonly aborts: AbortController[] = [];
  private loop?: Promise<void>;

  constructor(private readonly sb: Sandbox) {}

  start(): this {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.sb.kubeconfig);
    const watch = new k8s.Watch(kc);
    const follow = <T extends { metadata?: k8s.V1ObjectMeta }>(path: string, into: Map<string, T>) => {
      const again = () => {
        if (!this.stopped) setTimeout(() => void run(), 200);
      };
      const run = () =>
        watch
          .watch(
            path,
            {},
            (type: string, obj: T) => {
              const key = obj.metadata?.name ?? '';
              if (type === 'DELETED') into.delete(key);
              else if (type !== 'BOOKMARK' && type !== 'ERROR') into.set(key, obj);
              this.evaluate();
            },
            again,
          )
          .then((c) => this.aborts.push(c), again);
      void run();
    };
    follow('/api/v1/nodes', this.nodes);
    follow('/api/v1/namespaces/kube-system/pods', this.pods);
    this.loop = (async () => {
      while (!this.stopped) {
        const etcd = sandboxEtcd(this.sb, 1000);
        try {
          const members = await etcd.memberList();
          this.voters = new Set(members.filter((m) => !m.isLearner && m.name).map((m) => m.name));
          this.evaluate();
        } catch {
          // A member being removed: try again next tick.
        } finally {
          etcd.close();
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return this;
  }

  private evaluate(): void {
    const now = Date.now();
    const pods = [...this.pods.values()];
    for (const n of this.nodes.values()) {
      const name = n.metadata?.name ?? '';
      const id = n.spec?.providerID?.split('/').pop();
      if (!id || this.readyAt.has(id) || !this.voters.has(name)) continue;
      const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      const staticPods = staticPodsOf(name, pods);
      if (ready && CONTROL_PLANE_COMPONENTS.every((c) => staticPods[c]?.ready)) this.readyAt.set(id, now);
    }
  }

  async stop(): Promise<Map<string, number>> {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
    await this.loop;
    return this.readyAt;
  }
}
