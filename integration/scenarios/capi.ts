// What the Cluster API scenarios share: clients on the sandbox's management cluster (the sandbox apiserver, self-
// hosted), its Machines, and a kubeswap config with the provider section changed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import type { Sandbox } from '../sandbox/index.ts';

export const CAPI = { group: 'cluster.x-k8s.io', version: 'v1beta2', namespace: 'default' };
/** Cluster API waits on every annotation with this prefix before it deletes a Machine's infrastructure. */
export const PRE_TERMINATE_PREFIX = 'pre-terminate.delete.hook.machine.cluster.x-k8s.io';

export interface CapiObject {
  metadata: { name: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export function capiClients(sb: Sandbox) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sb.kubeconfig);
  return { core: kc.makeApiClient(k8s.CoreV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

export async function capiMachines(sb: Sandbox): Promise<CapiObject[]> {
  const list = await capiClients(sb).custom.listNamespacedCustomObject({ ...CAPI, plural: 'machines' });
  return (list as { items: CapiObject[] }).items;
}

const sandboxConfig = (sb: Sandbox) => parse(readFileSync(join(sb.stateDir, 'kubeswap.yaml'), 'utf8'));

export const clusterNameOf = (sb: Sandbox): string => String(sandboxConfig(sb).provider.clusterName);

/**
 * The sandbox's config with the provider section changed, written next to it; `top` sets top-level settings
 * (`kubeconfig: undefined` reads the workload kubeconfig from the `<cluster>-kubeconfig` Secret instead).
 */
export function capiConfig(
  sb: Sandbox,
  name: string,
  provider: Record<string, unknown>,
  top: Record<string, unknown> = {},
): string {
  const doc = sandboxConfig(sb);
  doc.provider = { ...doc.provider, ...provider };
  Object.assign(doc, top);
  for (const [k, v] of Object.entries(top)) if (v === undefined) delete doc[k];
  const file = join(sb.stateDir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}
