// The apiserver's `apiserver_requested_deprecated_apis` gauge (STABLE; k8s.io/apiserver pkg/endpoints/metrics): set to
// 1 for each group/version/resource/subresource a client requested through a deprecated API since that apiserver
// started, with the release that removes it (empty for a deprecated CustomResourceDefinition version).

export const DEPRECATED_APIS_METRIC = 'apiserver_requested_deprecated_apis';

export interface RequestedDeprecatedApi {
  group: string;
  version: string;
  resource: string;
  subresource: string;
  /** `1.N`, or '' when no removal is announced. */
  removedRelease: string;
}

const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Reads the gauge's series with value 1 from a Prometheus text exposition. */
export function parseDeprecatedApis(exposition: string): RequestedDeprecatedApi[] {
  const found: RequestedDeprecatedApi[] = [];
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${DEPRECATED_APIS_METRIC}{`)) continue;
    const close = line.lastIndexOf('}');
    if (
      close < 0 ||
      Number(
        line
          .slice(close + 1)
          .trim()
          .split(/\s+/)[0],
      ) !== 1
    )
      continue;
    const labels: Record<string, string> = {};
    for (const m of line.slice(DEPRECATED_APIS_METRIC.length + 1, close).matchAll(LABEL))
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
    found.push({
      group: labels['group'] ?? '',
      version: labels['version'] ?? '',
      resource: labels['resource'] ?? '',
      subresource: labels['subresource'] ?? '',
      removedRelease: labels['removed_release'] ?? '',
    });
  }
  return found;
}
