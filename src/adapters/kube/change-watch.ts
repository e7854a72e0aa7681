// A wake-up hint, not a source of truth: watches on Nodes and kube-system pods call `onChange` when
// something the plan waits on changes (a Node's readiness, cordon or role; a pod's readiness), so the
// loop observes right away instead of at its next poll. Polling stays the truth: a watch that breaks
// (apiserver restart, LB target removed mid-swap, 410 Gone) is restarted after a pause and meanwhile
// the loop simply polls. Watches are short (timeoutSeconds) so none outlives a swap on a dead server.
import { type KubeConfig, type V1Node, type V1Pod, Watch } from '@kubernetes/client-node';

const WATCH_SECONDS = 120;
const RESTART_PAUSE_MS = 1000;

type Signature = (obj: unknown) => string;

const nodeSignature: Signature = (obj) => {
  const n = obj as V1Node;
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  const cp = 'node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {});
  return `${ready}|${n.spec?.unschedulable === true}|${cp}|${n.spec?.providerID ?? ''}`;
};

const podSignature: Signature = (obj) => {
  const p = obj as V1Pod;
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return `${ready}|${p.status?.phase}|${p.spec?.nodeName ?? ''}`;
};

/** Starts the watches; the returned function stops them. Never throws: failures only mean no hints. */
export function watchControlPlaneChanges(kc: KubeConfig, onChange: () => void): () => void {
  const watch = new Watch(kc);
  const seen = new Map<string, string>();
  const running = new Set<AbortController>();
  let stopped = false;

  const follow = async (path: string, signature: Signature) => {
    while (!stopped) {
      let controller: AbortController | undefined;
      await new Promise<void>((resolve) => {
        watch
          .watch(
            path,
            { timeoutSeconds: WATCH_SECONDS },
            (type: string, obj: { metadata?: { namespace?: string; name?: string } }) => {
              if (type === 'BOOKMARK' || type === 'ERROR') return;
              const key = `${path}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
              const next = type === 'DELETED' ? undefined : signature(obj);
              const before = seen.get(key);
              if (next === undefined) seen.delete(key);
              else seen.set(key, next);
              // A (re)started watch replays every object as ADDED: only news wakes the loop.
              if (before !== next) onChange();
            },
            () => resolve(),
          )
          .then(
            (started) => {
              controller = started;
              if (stopped) started.abort();
              else running.add(started);
            },
            () => resolve(),
          );
      });
      if (controller) running.delete(controller);
      if (!stopped) await new Promise((r) => setTimeout(r, RESTART_PAUSE_MS).unref());
    }
  };
  void follow('/api/v1/nodes', nodeSignature);
  void follow('/api/v1/namespaces/kube-system/pods', podSignature);
  return () => {
    stopped = true;
    for (const controller of running) controller.abort();
    running.clear();
  };
}
