// What the Cluster API scenarios share: clients on the sandbox's management cluster (the sandbox apiserver, self-
// hosted) and its Machines. A config with the provider section changed: harness.ts configWith.
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../sandbox/index.ts';
import { sandboxConfig } from './harness.ts';

export const CAPI = { group: 'cluster.x-k8s.io', version: 'v1beta2', namespace: 'default' };
/** Cluster API waits on every annotation with this prefix before it deletes a Machine's infrastructure. */
export const PRE_TERMINATE_PREFIX = 'pre-terminate.delete.hook.machine.cluster.x-k8s.io';

export interface CapiObject {
  metadata: {
    name: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** A Machine's fields the scenarios compare. */
export type CapiMachine = CapiObject & { spec: { version: string; providerID?: string } };

export function capiClients(sb: Sandbox) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sb.kubeconfig);
  return { core: kc.makeApiClient(k8s.CoreV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

/** The Machines of the management cluster, or those matching `labelSelector`. */
export async function capiMachines(sb: Sandbox, labelSelector?: string): Promise<CapiMachine[]> {
  const list = await capiClients(sb).custom.listNamespacedCustomObject({ ...CAPI, plural: 'machines', labelSelector });
  return (list as { items: CapiMachine[] }).items;
}

export const clusterNameOf = (sb: Sandbox): string =>
  String((sandboxConfig(sb)['provider'] as { clusterName: string }).clusterName);
