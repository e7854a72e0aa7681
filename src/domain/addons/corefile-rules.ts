// The facts of github.com/coredns/corefile-migration (migration/versions.go and plugins.go, v1.0.34, the
// version kubeadm v1.37.2 vendors; v1.0.31 in kubeadm v1.36.3 has the same rules without 1.14.3-1.14.6),
// read 2026-11-27, for the CoreDNS versions kubeadm 1.22 to 1.37 ship (1.8.3 .. 1.14.6).
// Per release: the plugins the migration tool knows and, per plugin, the options it knows. A plugin or option
// it does not know is "unsupported" (kubeadm's CoreDNSUnsupportedPlugins preflight refuses it). In this range no
// plugin or option is "removed"; kubernetes' `endpoint` is "ignored" (CoreDNS uses its first argument only).

export type RuleStatus = 'deprecated' | 'ignored' | 'removed';

export interface PluginRule {
  /** Option names the tool knows; a status when the option is deprecated, ignored or removed in that release. */
  options: Record<string, RuleStatus | 'ok'>;
  /** Regular expressions for option names (hosts entries are IP addresses). */
  optionPatterns?: string[];
  status?: RuleStatus;
}

const none: PluginRule = { options: {} };
const opts = (...names: string[]): PluginRule => ({ options: Object.fromEntries(names.map((n) => [n, 'ok'])) });

/** plugins_1_8_3 of versions.go (used by 1.8.3 .. 1.9.2). */
const PLUGINS_1_8_3: Record<string, PluginRule> = {
  errors: opts('consolidate'),
  log: opts('class'),
  health: opts('lameduck'),
  ready: none,
  autopath: none,
  kubernetes: {
    options: {
      ...opts('tls', 'kubeconfig', 'namespaces', 'labels', 'pods', 'endpoint_pod_names', 'ttl', 'noendpoints').options,
      ...opts('fallthrough', 'ignore').options,
      endpoint: 'ignored',
    },
  },
  k8s_external: opts('apex', 'ttl'),
  prometheus: none,
  forward: opts(
    'except',
    'force_tcp',
    'prefer_udp',
    'expire',
    'max_fails',
    'tls',
    'tls_servername',
    'policy',
    'health_check',
    'max_concurrent',
  ),
  cache: opts('success', 'denial', 'prefetch'),
  loop: none,
  reload: none,
  loadbalance: none,
  hosts: {
    ...opts('ttl', 'no_reverse', 'reload', 'fallthrough'),
    optionPatterns: ['\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}', '[0-9A-Fa-f]{1,4}:[:0-9A-Fa-f]+:[0-9A-Fa-f]{1,4}'],
  },
  rewrite: opts('type', 'class', 'name', 'answer name', 'edns0', 'ttl'),
  transfer: opts('to'),
};
const with_ = (base: Record<string, PluginRule>, changes: Record<string, PluginRule>) => ({ ...base, ...changes });
/** plugins_1_9_3: errors v3 adds stacktrace. */
const PLUGINS_1_9_3 = with_(PLUGINS_1_8_3, { errors: opts('consolidate', 'stacktrace') });
/** plugins_1_9_4: cache v3 adds serve_stale, disable, servfail. */
const PLUGINS_1_9_4 = with_(PLUGINS_1_9_3, {
  cache: opts('success', 'denial', 'prefetch', 'serve_stale', 'disable', 'servfail'),
});
/** plugins_1_10_1: cache v4 adds keepttl. */
const PLUGINS_1_10_1 = with_(PLUGINS_1_9_4, {
  cache: opts('success', 'denial', 'prefetch', 'serve_stale', 'disable', 'servfail', 'keepttl'),
});
/** plugins_1_11_0: k8s_external v2 adds fallthrough, rewrite v3 adds cname_target. */
const PLUGINS_1_11_0 = with_(PLUGINS_1_10_1, {
  k8s_external: opts('apex', 'ttl', 'fallthrough'),
  rewrite: opts('type', 'class', 'name', 'answer name', 'edns0', 'ttl', 'cname_target'),
});
const FORWARD_BASE = PLUGINS_1_8_3['forward']!.options;
/** plugins_1_11_4: forward v4 adds next and fail_fast. */
const PLUGINS_1_11_4 = with_(PLUGINS_1_11_0, {
  forward: { options: { ...FORWARD_BASE, next: 'ok', fail_fast: 'ok' } },
});
/** plugins_1_12_0 (also 1_13_0, 1_14_0): forward v5 knows failfast_all_unhealthy_upstreams and no longer fail_fast. */
const PLUGINS_1_12_0 = with_(PLUGINS_1_11_0, {
  forward: { options: { ...FORWARD_BASE, next: 'ok', failfast_all_unhealthy_upstreams: 'ok' } },
});

/** Releases in upgrade order (versions.go nextVersion chain), each with the rules of that release. */
export const COREDNS_RELEASES: readonly { version: string; plugins: Record<string, PluginRule> }[] = [
  ...['1.8.3', '1.8.4', '1.8.5', '1.8.6', '1.8.7', '1.9.0', '1.9.1', '1.9.2'].map((version) => ({
    version,
    plugins: PLUGINS_1_8_3,
  })),
  { version: '1.9.3', plugins: PLUGINS_1_9_3 },
  { version: '1.9.4', plugins: PLUGINS_1_9_4 },
  { version: '1.10.0', plugins: PLUGINS_1_9_4 },
  { version: '1.10.1', plugins: PLUGINS_1_10_1 },
  ...['1.11.0', '1.11.1', '1.11.3'].map((version) => ({ version, plugins: PLUGINS_1_11_0 })),
  { version: '1.11.4', plugins: PLUGINS_1_11_4 },
  ...['1.12.0', '1.12.1', '1.12.2', '1.12.3', '1.12.4', '1.13.0', '1.13.1', '1.13.2'].map((version) => ({
    version,
    plugins: PLUGINS_1_12_0,
  })),
  ...['1.14.0', '1.14.1', '1.14.2', '1.14.3', '1.14.4', '1.14.6'].map((version) => ({
    version,
    plugins: PLUGINS_1_12_0,
  })),
];
