// `npx tsx integration/bench/plan-startup.ts [--bin A/bin/kubeswap.js --bin B/bin/kubeswap.js] [--runs N]`:
// start-up cost of `kubeswap plan` and of `apply --dry-run` (everything `apply` does before its lock: access
// preflight, observation, readiness) on a 3-machine sandbox, fresh and with a progress record of a run in
// progress for the same target (a resumed run). Several builds are measured against the same sandbox, run by
// run in turn, so a before/after comparison sees the same machine load. Each needs `npm run build` first.
// A script, not a test: it prints medians and asserts nothing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { engineOptions, wire } from '../../src/cli/commands/wiring.ts';
import { EventLog } from '../../src/domain/events.ts';
import { checkReadiness, DEFAULT_READINESS_REQUEST } from '../../src/engine/checks/readiness/run-readiness.ts';
import { inspect } from '../../src/engine/run/run.ts';
import { type Sandbox, upSandbox } from '../sandbox/index.ts';
import { sandboxEnv } from '../scenarios/harness.ts';
import { CallCounter } from './counting.ts';
import { readSettingsForSandbox } from './sandbox-settings.ts';

const { values } = parseArgs({
  options: {
    bin: { type: 'string', multiple: true },
    runs: { type: 'string', default: '5' },
    /** Also run this checkout's plan in-process once: wall time of each part and calls per outside system. */
    calls: { type: 'boolean', default: false },
  },
});
const root = path.resolve(import.meta.dirname, '../..');
const bins = values.bin?.length ? values.bin.map((b) => path.resolve(b)) : [path.join(root, 'bin/kubeswap.js')];
for (const bin of bins)
  if (!existsSync(path.join(path.dirname(bin), '../dist/src/cli/main.js')))
    throw new Error(`${bin}: dist/ is missing, run \`npm run build\` there first`);
const runs = Number(values.runs);

console.log(`plan-startup: bringing up a 3-machine sandbox...`);
const sb = await upSandbox({ controlPlanes: 3, ownerPid: process.pid });
try {
  const env = { ...process.env, ...sandboxEnv(sb) };
  const config = path.join(sb.stateDir, 'kubeswap.yaml');
  const common = ['--config', config, '--to', sb.versions.to, '--output', 'json'];
  const cases: Record<string, string[]> = {
    '--help': ['--help'],
    plan: ['plan', ...common],
    'apply --dry-run': ['apply', '--dry-run', '--yes', ...common],
  };
  const time = (bin: string, args: string[]) => {
    const started = performance.now();
    const child = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
    const ms = performance.now() - started;
    if (child.status !== 0) throw new Error(`${args.join(' ')} exited ${child.status}: ${child.stderr.slice(-2000)}`);
    return { ms, stdout: child.stdout };
  };
  // The image the plan resolves: a progress record for it makes the next `apply` a resumed run.
  const planned = time(bins[0]!, cases['plan']!)
    .stdout.split('\n')
    .find((l) => l.includes('"plan.report"'));
  const imageId = (JSON.parse(planned!) as { desired: { imageId: string } }).desired.imageId;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sb.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const progress = { name: 'kubeswap-progress', namespace: 'kube-system' };
  const setResumed = async (on: boolean) => {
    if (!on) {
      await core.deleteNamespacedConfigMap(progress).catch(() => undefined);
      return;
    }
    const now = new Date().toISOString();
    const record = {
      runId: 'bench-resumed',
      version: sb.versions.to,
      imageId,
      state: 'running',
      startedAt: now,
      updatedAt: now,
      last: 'started',
      machines: {},
    };
    await core.createNamespacedConfigMap({
      namespace: progress.namespace,
      body: { metadata: { name: progress.name }, data: { progress: JSON.stringify(record) } },
    });
  };

  const samples = new Map<string, number[]>();
  const add = (key: string, ms: number) => samples.set(key, [...(samples.get(key) ?? []), ms]);
  for (const bin of bins) for (const args of Object.values(cases)) time(bin, args); // warm caches
  for (let i = 0; i < runs; i++) {
    for (const resumed of [false, true]) {
      await setResumed(resumed);
      for (const [b, bin] of bins.entries())
        for (const [label, args] of Object.entries(cases)) {
          if (label === '--help' && resumed) continue;
          add(`${b}|${label}${resumed && label !== '--help' ? ' (resumed)' : ''}`, time(bin, args).ms);
        }
      await setResumed(false);
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  console.log(`\nmedian of ${runs} runs (ms), Node ${process.version}`);
  const labels = [...new Set([...samples.keys()].map((k) => k.split('|')[1]!))];
  console.log(`${''.padEnd(28)}${bins.map((_b, i) => `build ${i + 1}`.padStart(10)).join('')}`);
  for (const label of labels)
    console.log(
      `${label.padEnd(28)}${bins
        .map((_, b) =>
          median(samples.get(`${b}|${label}`) ?? [])
            .toFixed(0)
            .padStart(10),
        )
        .join('')}`,
    );
  for (const [i, b] of bins.entries()) console.log(`build ${i + 1}: ${b}`);
  if (values.calls) await inProcess(sb);
} finally {
  await sb.down();
}

/** This checkout's `plan` in-process: how long inspect and the readiness report take, and what they call. */
async function inProcess(sb: Sandbox) {
  Object.assign(process.env, sandboxEnv(sb));
  const settings = readSettingsForSandbox(sb);
  const counter = new CallCounter();
  const wired = await wire(settings, new EventLog().sink);
  const ports = {
    ...wired.ports,
    kube: counter.wrap('kubernetes', wired.ports.kube),
    etcd: counter.wrap('etcd', wired.ports.etcd),
    provider: counter.wrap('aws', wired.ports.provider),
    readiness: counter.wrap('readiness', wired.ports.readiness!),
  };
  try {
    let started = performance.now();
    const report = await inspect(ports, { version: sb.versions.to, force: false });
    const inspectMs = performance.now() - started;
    const options = engineOptions(settings);
    started = performance.now();
    await checkReadiness(
      ports,
      {
        target: report.desired.version,
        replaced: report.candidates.map((c) => c.cp.name),
        machineTimeoutMs: options.machineTimeoutMs,
        drainTimeoutMs: options.drainTimeoutMs,
      },
      DEFAULT_READINESS_REQUEST,
    );
    const readinessMs = performance.now() - started;
    console.log(
      `\nin-process plan (this checkout): inspect ${inspectMs.toFixed(0)} ms, readiness ${readinessMs.toFixed(0)} ms`,
    );
    for (const system of ['kubernetes', 'etcd', 'aws', 'readiness'])
      console.log(`  ${system.padEnd(11)} ${String(counter.total(system)).padStart(4)} calls`);
    const top = [...counter.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    console.log(`  most frequent  ${top.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    const slow = counter.meanMillis().slice(0, 10);
    console.log(`  slowest (mean) ${slow.map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`);
  } finally {
    wired.close();
  }
}
