// --max-surge 0 removes the old machine before its replacement exists. Between terminating the old
// VM and the replacement's join nothing in the live cluster says "one machine is missing": the Node
// may be deleted by the cloud node lifecycle controller, and EC2 forgets terminated instances. So the
// machine being retired is written down first, in its own ConfigMap (the KCP equivalent is
// spec.replicas), and the record is dropped only when the replacement has joined and serves.

import { KUBEADM_NAMESPACE } from '../../domain/kubeadm/cluster-config.ts';
import type { Machine } from '../../domain/model.ts';
import type { KubePort } from '../../ports/kube.ts';

export const RETIRING_CONFIGMAP = 'kubeswap-retiring';

/**
 * The retiring record read at most once until `forget()`: only a run's own steps write it (act.ts), and a run holds
 * the lock, so one read serves every pass until one of its steps writes it (issue 15 §2). A failed read is tried again
 * at the next call. `seed`: a read someone already made (the start gate's, for the loop).
 */
export function retiringReader(
  kube: Pick<KubePort, 'getConfigMap'>,
  seed?: Promise<RetiringRecord | undefined>,
): { read: () => Promise<RetiringRecord | undefined>; forget: () => void } {
  let read = seed;
  return {
    read: () => {
      read ??= readRetiring(kube);
      const current = read;
      current.catch(() => {
        if (read === current) read = undefined;
      });
      return current;
    },
    forget: () => {
      read = undefined;
    },
  };
}

export interface RetiringRecord {
  runId: string;
  /** Node name of the machine being removed first. */
  node: string;
  /** The old machine as last seen: its subnet and zone place the replacement after it is gone. */
  machine: Machine;
  startedAt: string;
}

export async function readRetiring(kube: Pick<KubePort, 'getConfigMap'>): Promise<RetiringRecord | undefined> {
  const cm = await kube.getConfigMap(KUBEADM_NAMESPACE, RETIRING_CONFIGMAP);
  const raw = cm?.data['retiring'];
  if (!raw) return undefined;
  const parsed = JSON.parse(raw) as RetiringRecord & { machine: { launchedAt: string } };
  return { ...parsed, machine: { ...parsed.machine, launchedAt: new Date(parsed.machine.launchedAt) } };
}

/** Creates the record; an existing one for the same machine is kept (a repeated step). */
export async function writeRetiring(
  kube: Pick<KubePort, 'createConfigMap' | 'getConfigMap'>,
  record: RetiringRecord,
): Promise<void> {
  const created = await kube.createConfigMap({
    namespace: KUBEADM_NAMESPACE,
    name: RETIRING_CONFIGMAP,
    data: { retiring: JSON.stringify(record, null, 2) },
    labels: { 'app.kubernetes.io/managed-by': 'kubeswap' },
    annotations: {},
  });
  if (created === 'created') return;
  const existing = await readRetiring(kube);
  if (existing?.machine.id !== record.machine.id) {
    throw new Error(
      `kube-system/${RETIRING_CONFIGMAP} already names ${existing?.node ?? 'another machine'}; finish that swap first`,
    );
  }
}

export async function clearRetiring(kube: Pick<KubePort, 'deleteConfigMap'>): Promise<void> {
  await kube.deleteConfigMap(KUBEADM_NAMESPACE, RETIRING_CONFIGMAP);
}
