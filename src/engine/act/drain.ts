// Drain like `kubectl drain --ignore-daemonsets`: cordon, evict through the Eviction API so
// PodDisruptionBudgets are respected, retry refused evictions, and wait until the evicted pods are
// really gone (eviction only starts a graceful delete). Idempotent: a re-run re-lists and continues.
import type { Clock } from '../../domain/clock.ts';
import type { KubePort, PodOnNode, PodsListed } from '../../ports/kube.ts';
import { budgetsBlocking } from './budgets.ts';

export interface DrainOptions {
  /** Give up after this long and report what blocks. */
  timeoutMs: number;
  /**
   * Pause between passes while an eviction is refused (kubectl drain retries every 5 s). While evicted
   * pods terminate, pauses start at 100 ms and double up to it: most are gone within a second.
   */
  pollMs: number;
  clock: Clock;
  /** Aborting rejects with the signal's reason (the run was interrupted; re-running continues). */
  signal?: AbortSignal;
  /**
   * The Node is cordoned already, as the plan observed it (the old control-plane machine's retiring mark cordons it in
   * the same patch: act.ts mark-retiring): no second patch. Idempotent as before: a Node found uncordoned is cordoned.
   */
  cordoned?: boolean;
  /**
   * Refuse, as `kubectl drain` does, to evict pods whose loss cannot be undone: a bare pod (no controller) and,
   * unless true, a pod with emptyDir data. Undefined: evict everything (the control plane's drain).
   */
  deleteEmptyDirData?: boolean;
}

/** A pod the drain refuses to evict, and why (kubectl drain's filters). */
export interface DrainRefusal {
  pod: string;
  why: 'local storage (emptyDir)' | 'not managed by a controller';
}

export interface DrainBlocker {
  /** `namespace/name` */
  pod: string;
  /** `namespace/name` of the PodDisruptionBudgets selecting the pod; empty when none does. */
  pdbs: string[];
  /** `eviction`: the API server keeps refusing (429); `termination`: evicted but still shutting down. */
  waitingFor: 'eviction' | 'termination';
}

/**
 * `left`: the Node's pods as the drain's last look found them (the DaemonSet and mirror pods it leaves), when it ended
 * with everything evicted.
 */
export type DrainResult =
  | { ok: true; refused: DrainRefusal[]; left?: PodOnNode[] }
  | { ok: false; blocking: DrainBlocker[] };

/** Pods a drain leaves alone: DaemonSet pods would be recreated at once; mirror pods go with the machine. */
export function mustEvict(pod: PodOnNode): boolean {
  return !pod.daemonSet && !pod.mirror;
}

export async function drainNode(kube: KubePort, node: string, options: DrainOptions): Promise<DrainResult> {
  const { clock, signal } = options;
  const deadline = clock.now().getTime() + options.timeoutMs;
  if (!options.cordoned) await kube.setUnschedulable(node, true);
  if (options.deleteEmptyDirData !== undefined) {
    // kubectl drain (pkg/drain/filters.go) checks every pod before evicting any: a finished pod loses nothing.
    const refused = (await kube.podsOnNode(node))
      .filter((p) => mustEvict(p) && p.phase !== 'Succeeded' && p.phase !== 'Failed')
      .flatMap((p): DrainRefusal[] => {
        const pod = `${p.namespace}/${p.name}`;
        if (p.bare) return [{ pod, why: 'not managed by a controller' }];
        if (p.emptyDir && !options.deleteEmptyDirData) return [{ pod, why: 'local storage (emptyDir)' }];
        return [];
      });
    if (refused.length > 0) return { ok: true, refused };
  }

  // uid -> pod, for the pods whose eviction the server accepted: they count as gone once no pod with that uid
  // is on the node any more (a controller may recreate one with the same name, with another uid, elsewhere).
  const evicted = new Map<string, PodOnNode>();
  const refused = new Map<string, PodOnNode>();
  let pause = Math.min(FIRST_PAUSE_MS, options.pollMs);
  /** The node's pods as the wait for terminating pods left them: as current as a list (awaitPodsGone). */
  let followed: PodOnNode[] | undefined;
  /** This pass's own list, with its resourceVersion when the port gives one: the wait follows on from it. */
  let listed: PodsListed | undefined;
  for (;;) {
    signal?.throwIfAborted();
    // Re-list every pass: it both checks the evicted uids and catches pods that landed before the cordon.
    listed = followed
      ? undefined
      : kube.podsOnNodeAt
        ? await kube.podsOnNodeAt(node)
        : { pods: await kube.podsOnNode(node) };
    const onNodeNow = followed ?? listed!.pods;
    const remaining = onNodeNow.filter(mustEvict);
    followed = undefined;
    refused.clear();
    for (const pod of remaining) {
      if (evicted.has(pod.uid)) continue;
      const result = await kube.evictPod(pod.namespace, pod.name);
      if (result === 'blocked') refused.set(pod.uid, pod);
      else if (result === 'evicted') evicted.set(pod.uid, pod);
    }
    const onNode = new Set(remaining.map((p) => p.uid));
    for (const uid of evicted.keys()) if (!onNode.has(uid)) evicted.delete(uid);
    if (refused.size === 0 && evicted.size === 0) return { ok: true, refused: [], left: onNodeNow };

    if (clock.now().getTime() >= deadline)
      return { ok: false, blocking: await describeBlockers(kube, refused, evicted) };
    if (refused.size === 0 && kube.awaitPodsGone) {
      // Only evicted pods still terminating: followed by a watch until they are gone (one LIST and one WATCH
      // however long they take) instead of a list per pause; undefined (could not watch): poll as below.
      followed = await kube.awaitPodsGone(node, [...evicted.keys()], {
        timeoutMs: Math.max(0, deadline - clock.now().getTime()),
        ...(signal ? { signal } : {}),
        ...(listed?.resourceVersion ? { from: listed } : {}),
      });
      if (followed) continue;
    }
    // A refused eviction is retried at the full pause, like kubectl; terminating pods are checked sooner.
    const wait = refused.size > 0 ? options.pollMs : pause;
    await clock.sleep(Math.min(wait, Math.max(0, deadline - clock.now().getTime())), signal);
    pause = Math.min(pause * 2, options.pollMs);
  }
}

const FIRST_PAUSE_MS = 100;

async function describeBlockers(
  kube: KubePort,
  refused: Map<string, PodOnNode>,
  terminating: Map<string, PodOnNode>,
): Promise<DrainBlocker[]> {
  const budgets = refused.size > 0 ? await kube.listDisruptionBudgets() : [];
  const name = (p: PodOnNode) => `${p.namespace}/${p.name}`;
  return [
    ...[...refused.values()].map((p) => ({
      pod: name(p),
      pdbs: budgetsBlocking(p, budgets),
      waitingFor: 'eviction' as const,
    })),
    ...[...terminating.values()].map((p) => ({ pod: name(p), pdbs: [], waitingFor: 'termination' as const })),
  ];
}
