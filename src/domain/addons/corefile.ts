// Can a Corefile go from one CoreDNS version to another unchanged? The check kubeadm's upgrade preflight makes
// (phases/upgrade/preflight.go: CoreDNSUnsupportedPlugins and CoreDNSMigration, over corefile-migration's
// Unsupported() and Migrate()) and Cluster API's KCP makes before it touches CoreDNS, over the rules in
// corefile-rules.ts. In the range kubeswap supports no rule rewrites a Corefile, so "migratable" means "kept as is".
import { COREDNS_RELEASES, type PluginRule } from './corefile-rules.ts';

export interface CorefileServer {
  zones: string[];
  plugins: { name: string; args: string[]; options: { name: string; args: string[] }[] }[];
}

export interface CorefileNotice {
  plugin: string;
  option?: string;
  severity: 'unsupported' | 'removed' | 'deprecated' | 'ignored';
  /** The CoreDNS release the rule comes from. */
  version: string;
}

export type CorefileCheck =
  | { migratable: true; notices: CorefileNotice[] }
  | { migratable: false; reason: string; notices: CorefileNotice[] };

/** Caddyfile tokens (coredns/caddy lexer): whitespace-separated, "quoted" with \" escapes, # comments to line end. */
function tokens(text: string): { value: string; line: number }[] {
  const out: { value: string; line: number }[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === '"') {
      let value = '';
      const start = line;
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && text[i + 1] === '"') i++;
        if (text[i] === '\n') line++;
        value += text[i];
        i++;
      }
      i++;
      out.push({ value, line: start });
    } else {
      let value = '';
      while (i < text.length && !/\s/.test(text[i]!)) value += text[i++];
      out.push({ value, line });
    }
  }
  return out;
}

/** corefile-migration's corefile.New: depth 0 = server block keys, 1 = plugins, 2 = plugin options. */
export function parseCorefile(text: string): CorefileServer[] {
  const servers: CorefileServer[] = [];
  const toks = tokens(text);
  let depth = 0;
  for (let i = 0; i < toks.length; i++) {
    const { value, line } = toks[i]!;
    if (value === '{') {
      depth++;
      continue;
    }
    if (value === '}') {
      depth--;
      continue;
    }
    const args: string[] = [];
    while (i + 1 < toks.length && toks[i + 1]!.line === line && !['{', '}'].includes(toks[i + 1]!.value))
      args.push(toks[++i]!.value);
    if (depth === 0) servers.push({ zones: [value, ...args], plugins: [] });
    else if (depth === 1) servers.at(-1)?.plugins.push({ name: value, args, options: [] });
    else if (depth === 2) servers.at(-1)?.plugins.at(-1)?.options.push({ name: value, args });
  }
  return servers;
}

function optionStatus(rule: PluginRule, name: string): PluginRule['options'][string] | undefined {
  return rule.options[name] ?? (rule.optionPatterns?.some((p) => new RegExp(p).test(name)) ? 'ok' : undefined);
}

const bare = (version: string) => version.replace(/^v/, '');

/**
 * corefile-migration's getStatus over every release after `from` up to `to`: plugins and options the tool does
 * not know are unsupported, known ones may carry a status. Unsupported or removed: not migratable, CoreDNS is
 * left alone (kubeadm refuses in preflight; KCP refuses the CoreDNS update).
 */
export function checkCorefile(fromVersion: string, toVersion: string, corefile: string): CorefileCheck {
  const from = bare(fromVersion);
  const to = bare(toVersion);
  if (from === to) return { migratable: true, notices: [] };
  const chain = COREDNS_RELEASES.map((r) => r.version);
  const start = chain.indexOf(from);
  const end = chain.indexOf(to);
  if (start < 0)
    return { migratable: false, reason: `CoreDNS ${from} is not a release the migration rules know`, notices: [] };
  if (end < 0)
    return { migratable: false, reason: `CoreDNS ${to} is not a release the migration rules know`, notices: [] };
  if (end < start) return { migratable: false, reason: `CoreDNS ${from} -> ${to} would be a downgrade`, notices: [] };
  const notices: CorefileNotice[] = [];
  const seen = new Set<string>();
  const note = (n: CorefileNotice) => {
    const key = `${n.plugin}/${n.option ?? ''}/${n.severity}`;
    if (!seen.has(key)) notices.push(n);
    seen.add(key);
  };
  const servers = parseCorefile(corefile);
  for (const release of COREDNS_RELEASES.slice(start + 1, end + 1)) {
    for (const plugin of servers.flatMap((s) => s.plugins)) {
      const rule = release.plugins[plugin.name];
      if (!rule) {
        note({ plugin: plugin.name, severity: 'unsupported', version: release.version });
        continue;
      }
      if (rule.status) note({ plugin: plugin.name, severity: rule.status, version: release.version });
      for (const option of plugin.options) {
        const status = optionStatus(rule, option.name);
        if (status === undefined)
          note({ plugin: plugin.name, option: option.name, severity: 'unsupported', version: release.version });
        else if (status !== 'ok')
          note({ plugin: plugin.name, option: option.name, severity: status, version: release.version });
      }
    }
  }
  const blockers = notices.filter((n) => n.severity === 'unsupported' || n.severity === 'removed');
  if (blockers.length === 0) return { migratable: true, notices };
  return { migratable: false, reason: blockers.map(describeNotice).join('; '), notices };
}

/** corefile-migration's Notice.ToString wording. */
export function describeNotice(n: CorefileNotice): string {
  const what = n.option ? `option "${n.option}" of plugin "${n.plugin}"` : `plugin "${n.plugin}"`;
  return n.severity === 'unsupported'
    ? `${what} is unsupported by the migration rules in CoreDNS ${n.version}`
    : `${what} is ${n.severity} in CoreDNS ${n.version}`;
}
