// The progress record: a ConfigMap next to the cluster (KCP keeps in-flight state on the objects it
// manages). A hint for reporting and for resuming with the same run id; the truth is always
// re-derived from live state.
import { randomBytes } from 'node:crypto';
import { KUBEADM_NAMESPACE } from '../../domain/kubeadm/cluster-config.ts';
import { type ConfigMapView, ConflictError, type KubePort } from '../../ports/kube.ts';
import { retryOnConflict } from '../conflicts.ts';

export const PROGRESS_CONFIGMAP = 'kubeswap-progress';

export interface ProgressRecord {
  runId: string;
  version: string;
  imageId: string;
  /**
   * `running` until the run finished; a failed or interrupted run stays `running` so a re-run resumes it, until
   * `kubeswap abandon` gives it up (`abandoned`: a run of another target or image may then start).
   */
  state: 'running' | 'finished' | 'abandoned';
  startedAt: string;
  updatedAt: string;
  /** Last step or outcome, human readable. */
  last: string;
  /** Node name -> phase of each machine this run touched. */
  machines: Record<string, string>;
  /** What the provider's run hooks need to undo their run-wide changes (MachineProvider.run). */
  provider?: unknown;
  /**
   * The pool of this run's last step (`control-plane` for the control plane's) and when it ended: a resumed run
   * pauses before the next pool only for what is left of --pool-interval.
   */
  lastPoolStep?: { pool: string; at: string };
  /** The provider's run-wide changes are undone (set by RunHooks.end), so a later re-run does not redo it. */
  providerRestored?: boolean;
  /**
   * Worker Nodes not Ready when the run first started (a resumed run keeps the first process's list): the
   * verification warns about them instead of failing. Absent in records of older versions.
   */
  notReadyAtStart?: { node: string; createdAt: string }[];
}

export async function readProgress(kube: KubePort): Promise<ProgressRecord | undefined> {
  return (await readProgressObject(kube)).record;
}

/**
 * The record and the ConfigMap it was read from ('absent': none): the run's first write replaces (or creates) it
 * without reading it again, guarded by its resourceVersion (or the create's 409), so a change since still costs a read.
 */
export async function readProgressObject(
  kube: KubePort,
): Promise<{ record: ProgressRecord | undefined; object: ConfigMapView | 'absent' }> {
  const cm = await kube.getConfigMap(KUBEADM_NAMESPACE, PROGRESS_CONFIGMAP);
  return { record: parseProgress(cm), object: cm ?? 'absent' };
}

function parseProgress(cm: ConfigMapView | undefined): ProgressRecord | undefined {
  const raw = cm?.data['progress'];
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as ProgressRecord;
  } catch {
    return undefined;
  }
}

export function newRunId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').slice(0, 15).toLowerCase();
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Writes the record, retrying on conflicts (another writer is only ever this run's earlier self).
 * `last`, the object this run wrote (or read) before, saves the read: it is replaced directly (or, 'absent', created),
 * and re-read only on a conflict. Returns what was written, for the next call.
 */
export async function writeProgress(
  kube: KubePort,
  record: ProgressRecord,
  last?: ConfigMapView | 'absent',
): Promise<ConfigMapView | undefined> {
  const data = { progress: JSON.stringify(record, null, 2) };
  let cm: ConfigMapView | 'absent' | undefined = last;
  return retryOnConflict(async () => {
    cm ??= (await kube.getConfigMap(KUBEADM_NAMESPACE, PROGRESS_CONFIGMAP)) ?? 'absent';
    if (cm === 'absent') {
      // Read as absent (just now, or by the caller): created; a 409 means someone created it since, read it then.
      cm = undefined;
      const created = await kube.createConfigMap({
        namespace: KUBEADM_NAMESPACE,
        name: PROGRESS_CONFIGMAP,
        data,
        labels: { 'app.kubernetes.io/managed-by': 'kubeswap' },
        annotations: {},
      });
      if (created === 'created') return undefined;
      throw new ConflictError(`${PROGRESS_CONFIGMAP} was created meanwhile`);
    }
    try {
      return await kube.replaceConfigMap({ ...cm, data });
    } catch (err) {
      if (err instanceof ConflictError) cm = undefined;
      throw err;
    }
  }, 'could not write the progress record after 5 conflicts');
}
