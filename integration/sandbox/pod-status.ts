// The kubelet's status manager, as far as the sandbox plays it for the mirror pods of static pods: the latest
// readiness of each pod is the one written, one write at a time. A crash report and a heal's report used to be two
// independent retry loops; the crash's first write, sent through the load balancer to the crashed member's own API
// server (which hangs with its etcd gone), was retried after the heal had written Ready and left the pod not Ready
// for good while its member served (exact-rollback (2) in CI). The kubelet never writes a status older than the one
// it wrote last (pkg/kubelet/status/status_manager.go syncs the latest version of each pod's status).
import type * as k8s from '@kubernetes/client-node';
import { setMirrorPodReady } from './nodes.ts';
import { sleep, within } from './processes.ts';

/** How long a status report may keep failing (API servers restarting, a busy machine), counted from the last report. */
export const STATUS_REPORT_MS = 60_000;
/** One write attempt; a hung one is given up and tried again (each write is conditional: see setMirrorPodReady). */
export const ATTEMPT_MS = 10_000;

export interface StatusTimings {
  reportMs: number;
  attemptMs: number;
  retryMs: number;
}

/** Writes a pod's readiness; `live` turns false once the attempt was given up, and a write not yet sent is then not. */
type WriteReadiness = (pod: string, ready: boolean, live: () => boolean) => Promise<void>;

export class MirrorPodStatus {
  private readonly wanted = new Map<string, { ready: boolean; deadline: number }>();
  private readonly syncing = new Map<string, Promise<void>>();
  private readonly write: WriteReadiness;

  constructor(
    core: () => k8s.CoreV1Api,
    private readonly log: (line: string) => void = () => {},
    private readonly timings: StatusTimings = { reportMs: STATUS_REPORT_MS, attemptMs: ATTEMPT_MS, retryMs: 1000 },
    write?: WriteReadiness,
  ) {
    this.write = write ?? ((pod, ready, live) => setMirrorPodReady(core(), pod, ready, live));
  }

  /**
   * Settles once the pod shows `ready`, or a later report's readiness (which then stands); rejects when no write got
   * through within the report time.
   */
  report(pod: string, ready: boolean): Promise<void> {
    this.wanted.set(pod, { ready, deadline: Date.now() + this.timings.reportMs });
    let sync = this.syncing.get(pod);
    if (!sync) {
      sync = this.sync(pod).finally(() => this.syncing.delete(pod));
      this.syncing.set(pod, sync);
    }
    return sync;
  }

  private async sync(pod: string): Promise<void> {
    for (;;) {
      const { ready } = this.wanted.get(pod)!;
      // An attempt given up may still get its read answered later (an API server holding it until its etcd is back):
      // it must not write then, from a read that may already show a later report's write.
      let live = true;
      try {
        await within(
          this.write(pod, ready, () => live),
          this.timings.attemptMs,
          `${pod} ${ready ? 'Ready' : 'not Ready'}`,
        ).finally(() => {
          live = false;
        });
        // Done unless a report came in meanwhile with the other readiness.
        if (this.wanted.get(pod)!.ready === ready) return;
        this.log(`${pod}: wrote ${ready ? 'Ready' : 'not Ready'}, then a later report came; writing that`);
      } catch (err) {
        if (Date.now() + this.timings.retryMs > this.wanted.get(pod)!.deadline) throw err;
        this.log(`${pod}: ${(err as Error).message}; trying again with the latest report`);
        await sleep(this.timings.retryMs);
      }
    }
  }
}
