// Startup cost of `kubeswap --help` against `node -e 0` on the same machine (issue 8: < 300 ms, < 80 MB RSS).
// Prints the median wall time and peak RSS of each over RUNS runs, and the ratios, which travel between machines
// better than the absolute figures. Needs `npm run build` first (`npm run bench:cli` does it).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env['RUNS'] ?? 10);
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/kubeswap.js');
// The child reports its own peak RSS on fd 3 as it exits; both commands carry the same hook.
const hook = `data:text/javascript,process.on('exit',()=>process.getBuiltinModule('node:fs').writeSync(3,String(process.resourceUsage().maxRSS)))`;

interface Sample {
  ms: number;
  rssMb: number;
}

function measure(args: string[]): Sample {
  const start = performance.now();
  const child = spawnSync(process.execPath, ['--import', hook, ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  const ms = performance.now() - start;
  if (child.status !== 0) throw new Error(`${args.join(' ')} exited ${child.status}: ${child.stderr}`);
  return { ms, rssMb: Number(String(child.output[3])) / 1024 };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function run(label: string, args: string[]): Sample {
  measure(args); // warm the file cache
  const samples = Array.from({ length: RUNS }, () => measure(args));
  const result = { ms: median(samples.map((s) => s.ms)), rssMb: median(samples.map((s) => s.rssMb)) };
  console.log(`${label.padEnd(28)} ${result.ms.toFixed(0).padStart(6)} ms ${result.rssMb.toFixed(1).padStart(7)} MB`);
  return result;
}

if (!existsSync(path.join(root, 'dist/src/cli/main.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(1);
}
console.log(`median of ${RUNS} runs, Node ${process.version}`);
const baseline = run('node -e 0', ['-e', '0']);
const help = run('kubeswap --help', [bin, '--help']);
const version = run('kubeswap --version', [bin, '--version']);
for (const [label, s] of [
  ['--help', help],
  ['--version', version],
] as const) {
  console.log(
    `ratio ${label.padEnd(22)} ${(s.ms / baseline.ms).toFixed(1).padStart(6)} x  ${(s.rssMb / baseline.rssMb).toFixed(2).padStart(6)} x`,
  );
}
