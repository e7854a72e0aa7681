// Which API versions Kubernetes removes, and when: a table shipped as data (api-removals.json, with its sources and
// the date it was last checked), so a new release's removals are an edit of that file, not of code.
import table from './api-removals.json' with { type: 'json' };

export interface ApiRemoval {
  /** API group; '' is the core group. */
  group: string;
  version: string;
  kind: string;
  /** Plural resource name, as apiserver metrics report it. */
  resource: string;
  /** `1.N`: the release that deprecated it. */
  deprecatedIn: string;
  /** `1.N`: the first release that no longer serves it. */
  removedIn: string;
  /** `group/version` to migrate to; absent when the API went without a replacement (PodSecurityPolicy). */
  replacement?: string | null;
  /** Key of `sources`. */
  source: string;
  /** false: objects of this kind are never stored from a manifest (create-only reviews, Events): not scanned. */
  scan?: boolean;
}

export interface ApiRemovalTable {
  sources: Record<string, string>;
  updated: string;
  removals: ApiRemoval[];
}

export const API_REMOVALS: ApiRemovalTable = table as ApiRemovalTable;

/** Whether `apiVersion` is gone at `target` (removed at or before it), still served but deprecated, or fine. */
export type ApiVerdict = 'removed' | 'deprecated';

export interface ApiUse {
  /** `group/version` (`v1` for core). */
  apiVersion: string;
  kind?: string;
  resource?: string;
}

export interface ApiFinding {
  verdict: ApiVerdict;
  removal: ApiRemoval;
}

/** `apps/v1` -> {group apps, version v1}; `v1` -> core. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function apiVersionOf(removal: Pick<ApiRemoval, 'group' | 'version'>): string {
  return removal.group ? `${removal.group}/${removal.version}` : removal.version;
}

/** `1.37` (or `v1.37.2`) -> 37 within major 1; undefined when it is not a 1.N release. */
function minorNumber(release: string): number | undefined {
  const match = /^v?1\.(\d+)/.exec(release.trim());
  return match ? Number(match[1]) : undefined;
}

/**
 * Looks `use` up (by kind or by resource) and judges it against the target version: removed when the table says it
 * is gone at or before the target, deprecated when it is deprecated by then (or only later removed). Not in the
 * table: undefined (an API the table does not know is never reported).
 */
export function judgeApi(use: ApiUse, target: string, removals: readonly ApiRemoval[] = API_REMOVALS.removals) {
  const { group, version } = splitApiVersion(use.apiVersion);
  const removal = removals.find(
    (r) =>
      r.group === group &&
      r.version === version &&
      ((use.kind !== undefined && r.kind === use.kind) || (use.resource !== undefined && r.resource === use.resource)),
  );
  if (!removal) return undefined;
  return { verdict: verdictAt(removal.removedIn, target), removal } satisfies ApiFinding;
}

/** `removedIn` against the target release: removed at or before the target, else still served (deprecated). */
export function verdictAt(removedIn: string, target: string): ApiVerdict {
  const removed = minorNumber(removedIn);
  const to = minorNumber(target);
  return removed !== undefined && to !== undefined && removed <= to ? 'removed' : 'deprecated';
}

/**
 * The kinds worth scanning for stored manifests: every kind the table names, at the API version it is served under
 * now (its replacement). Objects of other kinds cannot carry a removed apiVersion from this table.
 */
export function kindsToScan(removals: readonly ApiRemoval[] = API_REMOVALS.removals): ScanKind[] {
  const seen = new Map<string, ScanKind>();
  for (const r of removals) {
    if (!r.replacement || r.scan === false) continue;
    const key = `${r.replacement} ${r.kind}`;
    if (!seen.has(key)) seen.set(key, { apiVersion: r.replacement, kind: r.kind, resource: r.resource });
  }
  return [...seen.values()];
}

export interface ScanKind {
  apiVersion: string;
  kind: string;
  resource: string;
}
