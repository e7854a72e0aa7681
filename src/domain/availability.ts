// What a client of the API saw while the run replaced machines (issue 13 §2): requests made through the cluster's
// endpoint, how many failed, the longest time without a successful answer, and latency percentiles.

export interface ProbeSample {
  /** When the request started (ms since epoch). */
  at: number;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface AvailabilityStats {
  requests: number;
  failed: number;
  /** Longest time between two successful answers within the window (window edges count as successes). */
  longestGapMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** The first few failures, for people. */
  failures: string[];
}

/** Nearest-rank percentile of sorted values; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarizeAvailability(samples: readonly ProbeSample[], from: number, to: number): AvailabilityStats {
  const inWindow = samples.filter((s) => s.at >= from && s.at <= to);
  const latencies = inWindow
    .filter((s) => s.ok)
    .map((s) => s.latencyMs)
    .sort((a, b) => a - b);
  let lastOk = inWindow.length > 0 ? Math.min(from, inWindow[0]!.at) : from;
  let longestGapMs = 0;
  for (const s of inWindow) {
    if (!s.ok) continue;
    const answered = s.at + s.latencyMs;
    longestGapMs = Math.max(longestGapMs, answered - lastOk);
    lastOk = answered;
  }
  // A window ending in failures: the gap runs to its end.
  if (inWindow.some((s) => !s.ok && s.at >= lastOk)) longestGapMs = Math.max(longestGapMs, to - lastOk);
  const failed = inWindow.filter((s) => !s.ok);
  return {
    requests: inWindow.length,
    failed: failed.length,
    longestGapMs: Math.round(longestGapMs),
    p50Ms: Math.round(percentile(latencies, 50)),
    p95Ms: Math.round(percentile(latencies, 95)),
    p99Ms: Math.round(percentile(latencies, 99)),
    failures: failed.slice(0, 5).map((s) => `${new Date(s.at).toISOString()} ${s.error ?? 'failed'}`),
  };
}

export function describeAvailability(stats: AvailabilityStats): string {
  return `${stats.requests} API requests, ${stats.failed} failed, longest gap ${stats.longestGapMs} ms, latency p50 ${stats.p50Ms} ms p95 ${stats.p95Ms} ms p99 ${stats.p99Ms} ms`;
}

/** The probe's requests over time, in equal buckets (at most `maxBuckets`, each a whole number of seconds). */
export interface AvailabilitySeries {
  /** Start of the first bucket (ms since epoch). */
  startMs: number;
  bucketMs: number;
  requests: number[];
  failed: number[];
  /** Slowest successful answer in the bucket, 0 for none. */
  maxLatencyMs: number[];
}

export function availabilitySeries(
  samples: readonly ProbeSample[],
  from: number,
  to: number,
  maxBuckets = 30,
): AvailabilitySeries {
  const span = Math.max(1, to - from);
  const bucketMs = Math.max(1000, Math.ceil(span / maxBuckets / 1000) * 1000);
  const count = Math.max(1, Math.ceil(span / bucketMs));
  const series: AvailabilitySeries = {
    startMs: from,
    bucketMs,
    requests: new Array<number>(count).fill(0),
    failed: new Array<number>(count).fill(0),
    maxLatencyMs: new Array<number>(count).fill(0),
  };
  for (const s of samples) {
    if (s.at < from || s.at > to) continue;
    const i = Math.min(count - 1, Math.floor((s.at - from) / bucketMs));
    series.requests[i]!++;
    if (!s.ok) series.failed[i]!++;
    else series.maxLatencyMs[i] = Math.max(series.maxLatencyMs[i]!, Math.round(s.latencyMs));
  }
  return series;
}
