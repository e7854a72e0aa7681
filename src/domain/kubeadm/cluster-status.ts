// ClusterStatus in kubeadm-config exists only up to kubeadm 1.21 (from 1.22 the endpoints are annotations
// on the static pods). Where it exists, kubeadm reads apiEndpoints on join and upgrade, so an entry for a
// machine we removed must go. Where it does not exist, there is nothing to do (the original upgrade tool
// failed on >= 1.22 by assuming the key).
import { isMap, isScalar, parseDocument } from 'yaml';
import { KubeswapError } from '../errors.ts';

export interface ApiEndpoint {
  advertiseAddress: string;
  bindPort: number;
}

export interface ClusterStatus {
  apiVersion: string;
  apiEndpoints: Record<string, ApiEndpoint>;
}

function parse(text: string) {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) {
    throw new KubeswapError(
      'invalid',
      'kubeadm.config-invalid',
      `kubeadm-config ClusterStatus is not a YAML mapping: ${doc.errors[0]?.message ?? ''}`,
    );
  }
  return doc;
}

export function parseClusterStatus(text: string): ClusterStatus {
  const status = parse(text).toJS() as { apiVersion?: string; apiEndpoints?: Record<string, Partial<ApiEndpoint>> };
  const apiEndpoints: Record<string, ApiEndpoint> = {};
  for (const [node, endpoint] of Object.entries(status.apiEndpoints ?? {})) {
    apiEndpoints[node] = {
      advertiseAddress: String(endpoint?.advertiseAddress ?? ''),
      bindPort: Number(endpoint?.bindPort ?? 6443),
    };
  }
  return { apiVersion: String(status.apiVersion ?? ''), apiEndpoints };
}

export interface ClusterStatusPrune {
  text: string;
  changed: boolean;
  /** Node names whose entries were dropped. */
  removed: string[];
}

/**
 * Drops apiEndpoints entries whose Node no longer exists; adds nothing (a joining kubeadm adds its own).
 * An empty node list is treated as "unknown", never as "every node is gone".
 */
export function pruneClusterStatus(text: string, existingNodes: readonly string[]): ClusterStatusPrune {
  const unchanged = { text, changed: false, removed: [] };
  if (existingNodes.length === 0) return unchanged;
  const doc = parse(text);
  const endpoints = doc.get('apiEndpoints', true);
  if (!isMap(endpoints)) return unchanged;
  const keep = new Set(existingNodes);
  const removed: string[] = [];
  for (const pair of [...endpoints.items]) {
    const name = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (!keep.has(name)) {
      endpoints.delete(pair.key);
      removed.push(name);
    }
  }
  if (removed.length === 0) return unchanged;
  return { text: doc.toString({ lineWidth: 0 }), changed: true, removed };
}
