// `npm run bench:pools` (issue 12 §3): 30 workers in 3 pools on the sandbox, one control-plane machine. Prints the
// pools' time against the waits their batch sizes make unavoidable (each batch: the replacements boot and join, the
// old Nodes' pods stop), as a ratio, the API calls per machine, and the Node lists the pools' swaps sent. A script,
// not a test: it asserts nothing.
import { parseArgs } from 'node:util';
import { engineOptions, wire } from '../../src/cli/commands/wiring.ts';
import { EventLog, type KubeswapEvent } from '../../src/domain/events.ts';
import { apply } from '../../src/engine/run/run.ts';
import { upSandbox } from '../sandbox/index.ts';
import { GRACEFUL_POD_ANNOTATION } from '../sandbox/kwok.ts';
import { POOL_TAG } from '../sandbox/workers.ts';
import { deployWebWithPdb, sandboxEnv } from '../scenarios/harness.ts';
import { CallCounter, HttpCounter, type SentRequest } from './counting.ts';
import { readSettingsForSandbox } from './sandbox-settings.ts';

const { values } = parseArgs({
  options: {
    'boot-delay': { type: 'string', default: '10' },
    /** Grace period of the workload's pods: the drain time of a Node. */
    'drain-seconds': { type: 'string', default: '5' },
    'poll-interval': { type: 'string', default: '1s' },
  },
});
const boot = Number(values['boot-delay']);
const drain = Number(values['drain-seconds']);
/** Three pools of 10, one per kind of batch: surge only, unavailable only, both. */
const POOLS = [
  { name: 'surge', maxSurge: 3, maxUnavailable: 0 },
  { name: 'unavailable', maxSurge: 0, maxUnavailable: 2 },
  { name: 'mixed', maxSurge: 2, maxUnavailable: 1 },
];
const SIZE = 10;

console.log(
  `bench:pools: bringing up 1 control-plane machine and ${POOLS.length} x ${SIZE} workers (boot delay ${boot}s)...`,
);
const sb = await upSandbox({
  controlPlanes: 1,
  workerPools: Object.fromEntries(POOLS.map((p) => [p.name, SIZE])),
  bootDelaySeconds: boot,
  ownerPid: process.pid,
  timeoutMs: 900_000,
});
try {
  Object.assign(process.env, sandboxEnv(sb));
  const workerPools = POOLS.map((p) => ({
    ...p,
    tag: `${POOL_TAG}=${p.name}`,
    launchTemplate: sb.aws.workerLaunchTemplateId,
  }));
  const settings = readSettingsForSandbox(sb, {
    gatePasses: 2,
    pollInterval: values['poll-interval']!,
    workerPools,
    drainTimeout: '120s',
  });
  // One pod per worker (spread by the scheduler) that takes `drain` s to stop once evicted; no PDB, so only the
  // pools' batch sizes limit the drains.
  await deployWebWithPdb(sb, {
    name: 'slow-stop',
    replicas: POOLS.length * SIZE,
    pdb: false,
    image: 'registry.k8s.io/pause:3.10',
    podAnnotations: { [GRACEFUL_POD_ANNOTATION]: 'true' },
    terminationGracePeriodSeconds: drain,
  });
  const log = new EventLog();
  const counter = new CallCounter();
  const http = new HttpCounter();
  const wired = await wire(settings, log.sink);
  const ports = {
    ...wired.ports,
    kube: counter.wrap('kubernetes', wired.ports.kube),
    etcd: counter.wrap('etcd', wired.ports.etcd),
    provider: counter.wrap('aws', wired.ports.provider),
  };
  const started = Date.now();
  const outcome = await http.track(() =>
    apply(ports, { version: sb.versions.to, force: false }, engineOptions(settings)),
  );
  const totalMs = Date.now() - started;
  wired.close();
  http.close();
  report(log.events, totalMs, outcome.swaps, counter);
  reportNodeLists(log.events, http.sent);
} finally {
  await sb.down();
}

function report(events: KubeswapEvent[], totalMs: number, swaps: number, counter: CallCounter) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  console.log('\nper pool:');
  let poolsMs = 0;
  let unavoidable = 0;
  for (const p of POOLS) {
    const steps = events.filter((e) => e.code === 'plan.step' && poolOf(e) === p.name);
    const finished = events.filter((e) => e.code === 'swap.finished' && workerOf(events, e) === p.name);
    const first = steps[0];
    const last = finished.at(-1);
    const took = first && last ? t(last) - t(first) : Number.NaN;
    // Each batch: its replacements boot and join, its old Nodes drain. maxSurge + maxUnavailable machines a batch
    // (Cluster API MachineDeployment arithmetic).
    const batches = Math.ceil(SIZE / (p.maxSurge + p.maxUnavailable));
    const waits = batches * (boot + drain) * 1000;
    poolsMs += took;
    unavoidable += waits;
    console.log(
      `  ${p.name.padEnd(12)} surge ${p.maxSurge} unavailable ${p.maxUnavailable}: ${(took / 1000).toFixed(1)} s for ${finished.length} machines; ${batches} batches x (boot ${boot} s + drain ${drain} s) = ${(waits / 1000).toFixed(0)} s; ratio ${(took / waits).toFixed(2)}`,
    );
  }
  const machines = Math.max(swaps, 1);
  // The provider's pure functions (drift, machineIdOf) answer from what was read: not calls to AWS.
  const local = (counter.counts.get('aws.drift') ?? 0) + (counter.counts.get('aws.machineIdOf') ?? 0);
  console.log('\nsummary:');
  console.log(
    `  total wall time            ${(totalMs / 1000).toFixed(1)} s (${swaps} machines, control plane and addons included)`,
  );
  console.log(
    `  pools                      ${(poolsMs / 1000).toFixed(1)} s against ${(unavoidable / 1000).toFixed(0)} s of unavoidable waits: ratio ${(poolsMs / unavoidable).toFixed(2)}`,
  );
  console.log(
    `  calls per machine          kubernetes ${(counter.total('kubernetes') / machines).toFixed(0)}, etcd ${(counter.total('etcd') / machines).toFixed(0)}, aws ${((counter.total('aws') - local) / machines).toFixed(0)}`,
  );
  const top = [...counter.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  most frequent calls        ${top.map(([k, v]) => `${k} ${v}`).join(', ')}`);
}

/**
 * The Node lists the worker pools' swaps sent (issue 15 §3), from the pools' first step to the last swap's end: lists of
 * every Node (no selector; a page after the first counted apart), by hostname (a pool's Nodes read afresh by name),
 * by the control-plane label. Watches are not lists.
 */
function reportNodeLists(events: KubeswapEvent[], sent: SentRequest[]) {
  const first = events.find((e) => e.code === 'plan.step' && poolOf(e) !== undefined);
  if (!first) return;
  const from = Date.parse(first.at);
  // Up to the last swap's end: the verification after it reads every Node on its own.
  const to = Date.parse(events.findLast((e) => e.code === 'swap.finished')?.at ?? new Date().toISOString());
  const lists = sent.filter((r) => r.at >= from && r.at <= to && r.key === 'GET /api/v1/nodes');
  const kinds = [
    ['every Node', (r: SentRequest) => r.selector === undefined],
    ['by hostname', (r: SentRequest) => r.selector?.startsWith('labelSelector=kubernetes.io/hostname') === true],
    ['control-plane label', (r: SentRequest) => r.selector?.includes('node-role.kubernetes.io/control-plane') === true],
  ] as const;
  console.log("\nNode lists inside the worker pools (first pool step to the last swap's end):");
  for (const [name, is] of kinds) {
    const of = lists.filter(is);
    const pages = of.filter((r) => r.continued).length;
    const kb = of.reduce((n, r) => n + r.bytes, 0) / 1024;
    console.log(`  ${name.padEnd(20)} ${of.length - pages} lists (+${pages} pages), ${kb.toFixed(0)} KiB`);
  }
}

function poolOf(e: KubeswapEvent): string | undefined {
  return (e.data?.['pool'] as string | undefined) ?? undefined;
}

/** The pool of a finished swap: the pool of the last step on the same machine before it. */
function workerOf(events: KubeswapEvent[], finished: KubeswapEvent): string | undefined {
  const at = events.indexOf(finished);
  return poolOf(
    events.findLast((e, j) => j < at && e.code === 'plan.step' && e.machine === finished.machine) ?? finished,
  );
}
