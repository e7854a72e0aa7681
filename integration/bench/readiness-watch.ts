// Watches the sandbox independently of kubeswap: the first moment each new machine's Node is Ready
// and its etcd member is a started voter. The benchmark compares kubeswap's next step against it.
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { openEtcd } from '../../src/etcd/client.ts';
import type { Sandbox } from '../sandbox/index.ts';

export class ReadinessWatch {
  private readonly readyAt = new Map<string, number>();
  private stopped = false;
  private loop?: Promise<void>;

  constructor(private readonly sb: Sandbox) {}

  start(): this {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const tls = {
      ca: readFileSync(this.sb.etcd.caFile),
      cert: readFileSync(this.sb.etcd.certFile),
      key: readFileSync(this.sb.etcd.keyFile),
    };
    this.loop = (async () => {
      while (!this.stopped) {
        const etcd = openEtcd({ endpoints: this.sb.refresh().etcd.endpoints, tls, timeoutMs: 1000 });
        try {
          const [nodes, members] = await Promise.all([core.listNode({}), etcd.memberList()]);
          const now = Date.now();
          for (const n of nodes.items) {
            const id = n.spec?.providerID?.split('/').pop();
            const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
            const voter = members.some((m) => m.name === n.metadata?.name && !m.isLearner);
            if (id && ready && voter && !this.readyAt.has(id)) this.readyAt.set(id, now);
          }
        } catch {
          // A member being removed or an apiserver restarting: try again next tick.
        } finally {
          etcd.close();
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return this;
  }

  async stop(): Promise<Map<string, number>> {
    this.stopped = true;
    await this.loop;
    return this.readyAt;
  }
}
