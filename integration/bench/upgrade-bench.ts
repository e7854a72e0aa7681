// `npm run bench`: a 3-machine FROM -> TO upgrade on the sandbox with a boot delay B (default 20 s).
// Prints total wall time, the unavoidable waits (replacement boot+join, API target draining, the
// configured gate passes), the tool's overhead per swap and total/unavoidable, the delay between a
// replacement turning Ready and the tool's next step, and calls per swap to each outside system.
// A script, not a test: it prints numbers and asserts nothing.
import { parseArgs } from 'node:util';
import { engineOptions, wire } from '../../src/cli/commands/wiring.ts';
import { EventLog, type KubeswapEvent } from '../../src/domain/events.ts';
import { apply } from '../../src/engine/run/run.ts';
import { upSandbox } from '../sandbox/index.ts';
import { sandboxEnv } from '../scenarios/harness.ts';
import { MODELS, placeDrainPods, reportModel, sandboxOptionsFor } from './aws-model.ts';
import { CallCounter, HttpCounter } from './counting.ts';
import { ReadinessWatch } from './readiness-watch.ts';
import { readSettingsForSandbox } from './sandbox-settings.ts';

const { values } = parseArgs({
  options: {
    'boot-delay': { type: 'string', default: '20' },
    'gate-passes': { type: 'string', default: '2' },
    'poll-interval': { type: 'string', default: '1s' },
    /** `aws`: AWS's own waits at a fifth of their length, and the critical path (aws-model.ts). */
    model: { type: 'string' },
    /** Print every event of each swap with its offset: where the overhead goes. */
    timeline: { type: 'boolean', default: false },
  },
});
const model = values.model === undefined ? undefined : MODELS[values.model];
if (values.model !== undefined && !model) throw new Error(`--model: one of ${Object.keys(MODELS).join(', ')}`);
const bootDelay = model?.bootSeconds ?? Number(values['boot-delay']);
const deregistrationDelay = 2;
console.log(
  `bench: bringing up a 3-machine sandbox (boot delay ${bootDelay}s${model ? `, model ${values.model}` : ''})...`,
);
const sb = await upSandbox({
  controlPlanes: 3,
  bootDelaySeconds: bootDelay,
  deregistrationDelaySeconds: deregistrationDelay,
  ...(model ? sandboxOptionsFor(model) : {}),
  ownerPid: process.pid,
});
try {
  // kubeswap runs in this process: give it the sandbox's environment (moto endpoint, test credentials).
  Object.assign(process.env, sandboxEnv(sb));
  const settings = readSettingsForSandbox(sb, {
    gatePasses: Number(values['gate-passes']),
    pollInterval: values['poll-interval']!,
  });
  const log = new EventLog();
  const counter = new CallCounter();
  const http = new HttpCounter();
  const wired = await http.track(() => wire(settings, log.sink));
  const ports = {
    ...wired.ports,
    kube: counter.wrap('kubernetes', wired.ports.kube),
    etcd: counter.wrap('etcd', wired.ports.etcd),
    provider: countedProvider(counter, wired.ports.provider),
  };
  if (model) await placeDrainPods(sb, model);
  const watch = new ReadinessWatch(sb).start();
  const started = Date.now();
  const outcome = await http.track(() =>
    apply(ports, { version: sb.versions.to, force: false }, engineOptions(settings)),
  );
  const totalMs = Date.now() - started;
  const ready = await watch.stop();
  wired.close();
  http.close();
  // What AWS itself received from kubeswap (the sandbox's AWS front counts by kubeswap's user agent): a port call may
  // send several (a deregistration's polls, paging) or none (a cached launch template).
  const aws = (await sb.awsRequests()).map(({ action, at }) => ({ key: action, at }));
  report(log.events, ready, totalMs, outcome.swaps, counter, http, aws, settings.gatePasses, settings.pollIntervalMs);
  if (model) reportModel(model, log.events, ready, totalMs, settings.gatePasses, settings.pollIntervalMs);
  outsideSwaps(log.events, started, started + totalMs);
  requestsByPhase('kubernetes HTTP requests', log.events, http.sent, started + totalMs);
  requestsByPhase('AWS HTTP requests', log.events, aws, started + totalMs);
  requestsByStep('AWS HTTP requests', log.events, aws);
  if (values.timeline) timeline(log.events, ready);
} finally {
  await sb.down();
}

/**
 * The provider's calls to AWS: its load balancer's too (a nested object), not its pure functions (drift,
 * machineIdOf), which answer from what was already read.
 */
function countedProvider<T extends { loadBalancer?: object }>(counter: CallCounter, provider: T): T {
  const local = new Set(['drift', 'machineIdOf']);
  const loadBalancer = provider.loadBalancer && counter.wrap('aws', provider.loadBalancer);
  const counted = counter.wrap('aws', provider);
  return new Proxy(provider, {
    get: (target, key) => {
      if (key === 'loadBalancer') return loadBalancer;
      return local.has(String(key)) ? Reflect.get(target, key) : Reflect.get(counted, key);
    },
  });
}

function report(
  events: KubeswapEvent[],
  readyAt: Map<string, number>,
  totalMs: number,
  swaps: number,
  counter: CallCounter,
  http: HttpCounter,
  aws: Sent[],
  gatePasses: number,
  pollMs: number,
) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const created = events.filter((e) => e.code === 'replacement.created');
  let unavoidable = 0;
  const readyToNext: number[] = [];
  /** Per swap: time spent observing and deciding between steps (after the join, beyond the gate policy). */
  const betweenSteps: number[] = [];
  console.log('\nper swap:');
  for (const [i, c] of created.entries()) {
    const id = String(c.data?.['replacement']);
    const ready = readyAt.get(id);
    const next = events.find((e) => e.code === 'plan.step' && ready !== undefined && t(e) >= ready);
    const deregStep = events.find(
      (e, j) => e.code === 'plan.step' && e.data?.['step'] === 'deregister-target' && j > events.indexOf(c),
    );
    const dereg = events.find((e, j) => e.code === 'target.deregistered' && j > events.indexOf(c));
    const finished = events.find((e, j) => e.code === 'swap.finished' && j > events.indexOf(c));
    const join = ready !== undefined ? ready - t(c) : Number.NaN;
    const draining = deregStep && dereg ? t(dereg) - t(deregStep) : 0;
    // N consecutive passes spaced a poll interval apart: the gate cannot hold in less than N-1 intervals.
    const gatePolicy = (gatePasses - 1) * pollMs;
    const swapUnavoidable = join + draining + gatePolicy;
    const swapStart = events.findLast(
      (e, j) => e.code === 'plan.step' && j < events.indexOf(c) && e.data?.['step'] === 'create-replacement',
    );
    const duration = finished && swapStart ? t(finished) - t(swapStart) : Number.NaN;
    unavoidable += swapUnavoidable;
    if (next && ready !== undefined) readyToNext.push(t(next) - ready);
    const split =
      next && finished ? splitRetirement(events, events.indexOf(next), events.indexOf(finished)) : undefined;
    if (split) betweenSteps.push(split.between + (ready !== undefined ? t(next!) - ready - gatePolicy : 0));
    console.log(
      `  swap ${i + 1}: ${(duration / 1000).toFixed(1)} s; replacement boot+join ${(join / 1000).toFixed(1)} s, target draining ${(draining / 1000).toFixed(1)} s, gate policy ${(gatePolicy / 1000).toFixed(1)} s; overhead ${((duration - swapUnavoidable) / 1000).toFixed(1)} s; Ready -> next step ${next && ready !== undefined ? `${t(next) - ready} ms` : 'n/a'}`,
    );
    if (split) {
      console.log(
        `          after the join: ${split.steps} steps doing ${(split.work / 1000).toFixed(2)} s of work (drain ${(split.byKind.get('drain') ?? 0) / 1000} s, terminate ${(split.byKind.get('terminate') ?? 0) / 1000} s), ${(split.between / 1000).toFixed(2)} s observing and deciding between them`,
      );
    }
  }
  console.log('\nsummary:');
  console.log(`  total wall time            ${(totalMs / 1000).toFixed(1)} s (${swaps} swaps)`);
  console.log(`  unavoidable waits          ${(unavoidable / 1000).toFixed(1)} s`);
  console.log(
    `  overhead per swap          ${((totalMs - unavoidable) / 1000 / Math.max(swaps, 1)).toFixed(2)} s (includes preflight, snapshot and preparation)`,
  );
  console.log(`  total / unavoidable        ${(totalMs / unavoidable).toFixed(2)}`);
  console.log(`  Ready -> next step         ${readyToNext.map((x) => `${x} ms`).join(', ')}`);
  console.log(
    `  between steps per swap     ${betweenSteps.map((x) => `${(x / 1000).toFixed(2)} s`).join(', ')} (observe + plan after each step, and after the join beyond the gate policy)`,
  );
  console.log(
    `  port calls per swap        kubernetes ${(counter.total('kubernetes') / swaps).toFixed(0)}, etcd ${(counter.total('etcd') / swaps).toFixed(0)}, aws ${(counter.total('aws') / swaps).toFixed(0)}`,
  );
  // Port calls answered from the run's watched Nodes send no request: the API server's load is the HTTP count.
  const kubeRequests = http.total();
  console.log(
    `  kubernetes HTTP requests   ${kubeRequests} in all, ${(kubeRequests / swaps).toFixed(0)} per swap (${http.total((k) => k.endsWith('(watch)'))} of them watch starts; ${http.untracked} requests of the benchmark's own watch not counted)`,
  );
  const topHttp = [...http.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  most frequent requests     ${topHttp.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(
    `  AWS HTTP requests          ${aws.length} in all, ${(aws.length / swaps).toFixed(0)} per swap (kubeswap's own, counted by the sandbox's AWS front)`,
  );
  console.log(
    `  AWS requests by action     ${countKinds(aws)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  const top = [...counter.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  most frequent port calls   ${top.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const slow = counter.meanMillis().slice(0, 8);
  console.log(`  slowest calls (mean)       ${slow.map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`);
}

/** From the first step after the join to the swap's end: time inside steps vs. between them. */
function splitRetirement(events: KubeswapEvent[], from: number, to: number) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  let work = 0;
  let between = 0;
  let steps = 0;
  const byKind = new Map<string, number>();
  for (let j = from; j <= to; j++) {
    const e = events[j]!;
    if (e.code !== 'plan.step') continue;
    steps++;
    let end = j;
    while (end + 1 <= to && events[end + 1]!.code !== 'plan.step') end++;
    const took = t(events[end]!) - t(e);
    work += took;
    byKind.set(String(e.data?.['step']), took);
    const nextStep = events.findIndex((x, k) => k > end && k <= to && x.code === 'plan.step');
    if (nextStep > 0) between += t(events[nextStep]!) - t(events[end]!);
  }
  return { work, between, steps, byKind };
}

function timeline(events: KubeswapEvent[], readyAt: Map<string, number>) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const starts = events.filter((e) => e.code === 'swap.started');
  for (const [i, start] of starts.entries()) {
    const from = events.indexOf(start);
    const end = events.findIndex((e, j) => j > from && e.code === 'swap.finished');
    console.log(`\nswap ${i + 1} timeline (ms since its first step):`);
    const origin = t(events.findLast((e, j) => j < from && e.code === 'plan.step') ?? start);
    let previous = origin;
    for (const e of events.slice(from - 1, end + 1)) {
      const what = e.code === 'plan.step' ? `step ${String(e.data?.['step'])}` : e.code;
      console.log(
        `  +${String(t(e) - origin).padStart(6)} (${String(t(e) - previous).padStart(5)})  ${what}  ${e.message.slice(0, 90)}`,
      );
      previous = t(e);
    }
    for (const [id, at] of readyAt)
      if (at >= origin && at <= previous)
        console.log(`  +${String(at - origin).padStart(6)}          ${id} Ready and voting (seen by the benchmark)`);
  }
}

/**
 * Where the whole apply spends its time outside the swaps (issue 15 §1: total vs critical path): every event before
 * the first replacement is created and after the last swap finished, with the time since the previous one.
 */
function outsideSwaps(events: KubeswapEvent[], startedAt: number, endedAt: number) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const first = events.findIndex((e) => e.code === 'plan.step' && e.data?.['step'] === 'create-replacement');
  const last = events.findLastIndex((e) => e.code === 'swap.finished');
  if (first < 0 || last < 0) return;
  const print = (from: number, to: number, origin: number) => {
    let previous = origin;
    for (const e of events.slice(from, to)) {
      const what = e.code === 'plan.step' ? `step ${String(e.data?.['step'])}` : e.code;
      console.log(
        `  +${String(t(e) - origin).padStart(6)} (${String(t(e) - previous).padStart(5)})  ${what}  ${e.message.slice(0, 80)}`,
      );
      previous = t(e);
    }
    return previous;
  };
  console.log(`\nbefore the first swap (ms since apply started):`);
  const before = print(0, first + 1, startedAt);
  console.log(`  = ${((before - startedAt) / 1000).toFixed(1)} s`);
  console.log(`\nafter the last swap (ms since it finished):`);
  const end = t(events[last]!);
  print(last + 1, events.length, end);
  console.log(
    `  +${String(endedAt - end).padStart(6)}          apply returned: ${((endedAt - end) / 1000).toFixed(1)} s`,
  );
}

/** A request sent: its kind (method and path, or AWS Action) and when (ms since the epoch). */
interface Sent {
  key: string;
  at: number;
}

/** Requests counted by kind, most frequent first. */
function countKinds(sent: Sent[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const r of sent) counts.set(r.key, (counts.get(r.key) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}

/**
 * An outside system's load by phase (issue 15 §2): before the first swap (preflight, lock, snapshot), inside the swaps
 * (from the first create-replacement step to the last swap.finished), after the last (addons, verification, record).
 * Requests inside the swaps are what must not grow with the cluster; every kind is listed.
 */
function requestsByPhase(title: string, events: KubeswapEvent[], sent: Sent[], endedAt: number) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const first = events.find((e) => e.code === 'plan.step' && e.data?.['step'] === 'create-replacement');
  const last = events.findLast((e) => e.code === 'swap.finished');
  if (!first || !last) return;
  const phases: [string, number, number][] = [
    ['before the first swap', 0, t(first)],
    ['inside the swaps', t(first), t(last) + 1],
    ['after the last swap', t(last) + 1, endedAt + 60_000],
  ];
  console.log(`\n${title} by phase:`);
  for (const [name, from, to] of phases) {
    const kinds = countKinds(sent.filter((r) => r.at >= from && r.at < to));
    const n = kinds.reduce((sum, [, v]) => sum + v, 0);
    const swaps = events.filter((e) => e.code === 'swap.finished').length;
    const perSwap = name === 'inside the swaps' && swaps > 0 ? ` (${(n / swaps).toFixed(1)} per swap)` : '';
    console.log(`  ${name}: ${n}${perSwap}`);
    for (const [k, v] of kinds) console.log(`    ${String(v).padStart(4)}  ${k}`);
  }
}

/**
 * Requests sent inside the swaps, by the plan step last started before each (a step's own requests and those of the
 * passes that follow it until the next step): where the requests per swap come from.
 */
function requestsByStep(title: string, events: KubeswapEvent[], sent: Sent[]) {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const steps = events.filter((e) => e.code === 'plan.step');
  const first = steps.find((e) => e.data?.['step'] === 'create-replacement');
  const last = events.findLast((e) => e.code === 'swap.finished');
  if (!first || !last) return;
  const byStep = new Map<string, Sent[]>();
  for (const r of sent) {
    if (r.at < t(first) || r.at > t(last)) continue;
    const step = String(steps.findLast((e) => t(e) <= r.at)?.data?.['step'] ?? 'none');
    byStep.set(step, [...(byStep.get(step) ?? []), r]);
  }
  console.log(`\n${title} inside the swaps, by the step last started (its passes until the next step included):`);
  for (const [step, list] of [...byStep].sort((a, b) => b[1].length - a[1].length)) {
    const kinds = countKinds(list).map(([k, v]) => `${k} ${v}`);
    console.log(`  ${String(list.length).padStart(4)}  ${step}: ${kinds.join(', ')}`);
  }
}
