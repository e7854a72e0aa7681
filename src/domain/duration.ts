// Durations as Go writes them (time.ParseDuration: `1h30m`, `5m0s`, `1.5h`, `300ms`), which is what kubectl and
// kubeadm print and accept, plus a bare number meaning seconds, as kubeswap has always accepted.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Milliseconds, or undefined when the text is not a duration. Signs are kept: callers decide what is allowed. */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) ? input * 1000 : undefined;
  let text = input.trim();
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return Number(text) * 1000;
  let sign = 1;
  if (text.startsWith('-') || text.startsWith('+')) {
    sign = text.startsWith('-') ? -1 : 1;
    text = text.slice(1);
  }
  // Go accepts a bare "0" without a unit and nothing else unit-less; the bare-number case above covers it.
  if (text === '') return undefined;
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < text.length) {
    const match = TERM.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
  }
  return sign * total;
}
