// The KubeProxyConfiguration API version kubeadm writes into ConfigMap kube-system/kube-proxy (key config.conf).
// kubeadm 1.22 .. 1.37 all write kubeproxy.config.k8s.io/v1alpha1 (cmd/kubeadm/app/componentconfigs/kubeproxy.go
// imports k8s.io/kube-proxy/config/v1alpha1 in v1.36.3 and v1.37.2, read 2026-11-27).
import { parseDocument } from 'yaml';

export const KUBE_PROXY_CONFIG_API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
/** constants.KubeProxyConfigMapKey. */
export const KUBE_PROXY_CONFIG_KEY = 'config.conf';

/** apiVersion of the KubeProxyConfiguration text, or undefined when it cannot be read. */
export function kubeProxyConfigApiVersion(text: string): string | undefined {
  const doc = parseDocument(text).toJS() as Record<string, unknown> | null;
  const api = doc?.['apiVersion'];
  return typeof api === 'string' ? api : undefined;
}
