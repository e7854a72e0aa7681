// "Healthy" for `sandbox up`: every running machine's Node Ready with its four mirror pods Ready, etcd with one
// leader, and the API answering through the load balancer.
import { clientUrl, etcdClient, listMembers } from './etcd.ts';
import { nudgeUnreportedPods } from './nodes.ts';
import { waitFor } from './processes.ts';
import type { Runtime } from './runtime.ts';

export async function waitClusterSettled(rt: Runtime, timeoutMs?: number): Promise<void> {
  const running = [...rt.machines.values()].filter((m) => m.state === 'running');
  // A bound that holds on a loaded machine (several sandboxes side by side on 2 cores): each machine's Node, its
  // four mirror pods and the node controller's taint removal take longer under load. Returns as soon as it holds.
  const bound = timeoutMs ?? 90_000 + 30_000 * running.length;
  const started = Date.now();
  let lastNudge = started;
  await waitFor(
    'control-plane Nodes and mirror pods Ready',
    async () => {
      // Mirror pods kwok passed over (nodes.ts nudgeUnreportedPods): every 15 s, after the first 15 s.
      if (Date.now() - lastNudge > 15_000) {
        lastNudge = Date.now();
        const names = running.flatMap((m) =>
          ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => `${c}-${m.node}`),
        );
        const nudged = await nudgeUnreportedPods(rt.core, names);
        if (nudged.length) rt.log(`settle: nudged kwok about ${nudged.join(', ')}`);
      }
      const nodes = await rt.core.listNode();
      const pods = await rt.core.listNamespacedPod({ namespace: 'kube-system' });
      for (const m of running) {
        // Thrown, not returned: on timeout the error says which machine and what is still missing.
        const node = nodes.items.find((n) => n.metadata?.name === m.node);
        if (!isReady(node?.status?.conditions)) throw new Error(`Node ${m.node} ${node ? 'not Ready' : 'missing'}`);
        // The node controller taints a freshly registered Node not-ready until it sees it Ready: wait for that too.
        const taint = node?.spec?.taints?.find((t) => t.key.startsWith('node.kubernetes.io/'));
        if (taint) throw new Error(`Node ${m.node} still tainted ${taint.key}`);
        for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
          const pod = pods.items.find((p) => p.metadata?.name === `${c}-${m.node}`);
          if (!isReady(pod?.status?.conditions))
            throw new Error(`mirror pod ${c}-${m.node} ${pod ? 'not Ready' : 'missing'}`);
        }
      }
      return true;
    },
    bound,
    500,
  );
  const client = etcdClient(
    running.map((m) => clientUrl(m.ports.etcdClient)),
    rt.etcdTls,
  );
  try {
    const members = await listMembers(client);
    if (members.length !== running.length || members.some((m) => m.isLearner)) {
      throw new Error(`etcd has ${members.length} members for ${running.length} machines`);
    }
  } finally {
    client.close();
  }
}

export function isReady(conditions: { type: string; status: string }[] | undefined): boolean {
  return conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
