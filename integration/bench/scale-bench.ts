// `npm run bench:scale [-- --nodes 5000 --pods 25000 --runs 3 --bin A/bin/kubeswap.js ... --no-apply]`: `kubeswap plan`
// and a control-plane `kubeswap apply` on a 3-machine sandbox, then on the same sandbox after adding N worker Node
// objects and P pods bound to them (issue 15 §3). Prints plan's wall time and peak RSS (the child's maxrss) at both
// sizes and their ratios; then, for each apply, its wall time, peak RSS and the Kubernetes requests it sent (counted in
// the child by counting.ts's HttpCounter): the Node and pod lists and watches with and without a label or field
// selector (without one: every Node, or every pod of its scope), their bytes, and where each full one was sent (before,
// inside or after the swaps, after which step). Several builds are measured in turn against the same sandbox (each
// needs `npm run build`), so before/after see the same machine load.
// Each apply re-images the 3 control-plane machines at the cluster's own version onto an image registered for it (one
// per apply: every build at every size has the same work to do, and the cluster stays at FROM, so `plan --to TO` plans
// the same 3 swaps before and after the applies). `--no-apply` measures plan only (minutes less).
// The Nodes and pods are plain API objects (no kubelet, nothing schedules them): what plan reads is their number and
// size, as on a real cluster. One pod per Node goes to kube-system (as a kube-proxy DaemonSet's would), the rest to a
// namespace of their own. A script, not a test: it prints numbers and asserts nothing. Keep it out of CI.
// `--state-dir DIR` keeps the sandbox (and its 30,000 objects) up at the end and reuses it on the next run, so a
// profile (`--cpu-prof DIR`: one V8 profile per measured plan at the large size) does not pay the build again;
// `npm run sandbox -- down --state-dir DIR` ends it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { KubeswapEvent } from '../../src/domain/events.ts';
import { attachSandbox, type Sandbox, upSandbox } from '../sandbox/index.ts';
import { registerImage, sandboxEnv } from '../scenarios/harness.ts';
import type { SentRequest } from './counting.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    pods: { type: 'string', default: '25000' },
    runs: { type: 'string', default: '3' },
    bin: { type: 'string', multiple: true },
    'state-dir': { type: 'string' },
    'cpu-prof': { type: 'string' },
    /** One control-plane apply per build at each size; `--no-apply`: plan only. */
    apply: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const nodeCount = Number(values.nodes);
const podCount = Number(values.pods);
const runs = Number(values.runs);
const root = path.resolve(import.meta.dirname, '../..');
const bins = values.bin?.length ? values.bin.map((b) => path.resolve(b)) : [path.join(root, 'bin/kubeswap.js')];
for (const bin of bins)
  if (!existsSync(path.join(path.dirname(bin), '../dist/src/cli/main.js')))
    throw new Error(`${bin}: dist/ is missing, run \`npm run build\` there first`);

const stateDir = values['state-dir'] && path.resolve(values['state-dir']);
const reused = stateDir !== undefined && existsSync(path.join(stateDir, 'sandbox.json'));
console.log(`bench:scale: ${reused ? `reusing the sandbox in ${stateDir}` : 'bringing up a 3-machine sandbox'}...`);
const sb = reused
  ? attachSandbox(stateDir)
  : await upSandbox({
      controlPlanes: 3,
      // The added Nodes stay Ready with no kubelet renewing their Leases (SandboxPlan.controllerManagerArgs says why).
      controllerManagerArgs: ['--node-monitor-grace-period=24h'],
      ...(stateDir ? { stateDir } : { ownerPid: process.pid }),
    });
const counter = values.apply ? preloadRequestCounter() : undefined;
try {
  const env = { ...process.env, ...sandboxEnv(sb) };
  const config = path.join(sb.stateDir, 'kubeswap.yaml');
  const args = ['plan', '--config', config, '--to', sb.versions.to, '--output', 'json'];

  /** One `plan` in a child process: wall time, and peak RSS from the child's own resource usage. */
  const plan = (bin: string, profile = false) =>
    new Promise<{ ms: number; cpuMs: number; rssMb: number; code: number | null }>((resolve, reject) => {
      const started = performance.now();
      const prof =
        profile && values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
      const child = spawn(
        process.execPath,
        [...prof, '--require', path.join(import.meta.dirname, 'maxrss.cjs'), bin, ...args],
        { env },
      );
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += String(d);
      });
      child.stdout.resume();
      child.on('exit', (code) => {
        const ms = performance.now() - started;
        const rss = /MAXRSS (\d+) CPU (\d+)/.exec(stderr);
        // plan exits 2 when it finds a blocker: still a measured plan (the exit code is printed with it).
        if ((code !== 0 && code !== 2) || !rss) reject(new Error(`plan exited ${code}: ${stderr.slice(-2000)}`));
        else resolve({ ms, cpuMs: Number(rss[2]) / 1000, rssMb: Number(rss[1]) / 1024, code });
      });
    });

  const measure = async (label: string, profile = false) => {
    for (const bin of bins) await plan(bin); // warm caches
    const samples = bins.map(() => [] as { ms: number; cpuMs: number; rssMb: number; code: number | null }[]);
    for (let i = 0; i < runs; i++) for (const [b, bin] of bins.entries()) samples[b]!.push(await plan(bin, profile));
    const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
    const out = samples.map((s) => ({
      ms: median(s.map((x) => x.ms)),
      cpuMs: median(s.map((x) => x.cpuMs)),
      rssMb: median(s.map((x) => x.rssMb)),
      codes: [...new Set(s.map((x) => x.code))].join(','),
    }));
    for (const [b, r] of out.entries())
      console.log(
        `  ${label}, build ${b + 1}: plan ${(r.ms / 1000).toFixed(2)} s (CPU ${(r.cpuMs / 1000).toFixed(2)} s), peak RSS ${r.rssMb.toFixed(0)} MB (exit ${r.codes})`,
      );
    return out;
  };

  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sb.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  // A reused sandbox already holds the objects: the small figure is then the one printed when they were added.
  // (remainingItemCount is not set for a list with a selector: the first page only says whether any is there.)
  // A build cut short is completed: the pods of the namespace of their own are counted (a list without a selector
  // says how many remain).
  const nodesThere = (await core.listNode({ labelSelector: 'scale-bench=true', limit: 1 })).items.length > 0;
  const appPods = await core.listNamespacedPod({ namespace: 'scale-bench', limit: 1 }).catch(() => undefined);
  const podsThere = (appPods?.items.length ?? 0) + (appPods?.metadata?.remainingItemCount ?? 0);
  const present = nodesThere && podsThere >= podCount - Math.min(nodeCount, podCount);
  if (nodesThere && !present) {
    console.log(`\ncompleting the scale-bench objects (${podsThere} app pods there)...`);
    await populate(kc, core, nodeCount, podCount, sb.versions.from);
  }
  let small: Awaited<ReturnType<typeof measure>> | undefined;
  let smallApplies: (ApplyRun | undefined)[] | undefined;
  if (!present) {
    console.log(`\nplan on 3 Nodes (median of ${runs}):`);
    small = await measure('3 nodes');
    if (counter) {
      console.log('\napply on 3 Nodes (one per build, 3 swaps each):');
      smallApplies = await applies(sb, counter, bins, config, '3 nodes', env);
    }
    const started = performance.now();
    await populate(kc, core, nodeCount, podCount, sb.versions.from);
    console.log(
      `\nadded ${nodeCount} Nodes and ${podCount} pods in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  } else console.log('\nscale-bench Nodes already there: the 3-node figures are not measured again');

  console.log(`\nplan on ${nodeCount + 3} Nodes and ${podCount} more pods (median of ${runs}):`);
  const large = await measure(`${nodeCount} nodes`, true);
  let largeApplies: (ApplyRun | undefined)[] | undefined;
  if (counter) {
    console.log(`\napply on ${nodeCount + 3} Nodes (one per build, 3 swaps each):`);
    largeApplies = await applies(sb, counter, bins, config, `${nodeCount} nodes`, env);
  }
  console.log('\nsummary (goal: plan < 5 s, < 300 MB, within 1.5x of 3 nodes):');
  for (const [b, bin] of bins.entries())
    if (small)
      console.log(
        `  build ${b + 1}: ${(small[b]!.ms / 1000).toFixed(2)} s -> ${(large[b]!.ms / 1000).toFixed(2)} s (x${(large[b]!.ms / small[b]!.ms).toFixed(2)}), CPU ${(small[b]!.cpuMs / 1000).toFixed(2)} s -> ${(large[b]!.cpuMs / 1000).toFixed(2)} s (x${(large[b]!.cpuMs / small[b]!.cpuMs).toFixed(2)}), ${small[b]!.rssMb.toFixed(0)} MB -> ${large[b]!.rssMb.toFixed(0)} MB (x${(large[b]!.rssMb / small[b]!.rssMb).toFixed(2)})  ${bin}`,
      );
  if (largeApplies) {
    console.log(
      "\napply summary (3 swaps; full lists: of every Node or pod of their scope, inside the swaps, the run's watched Node cache's first LIST included when it falls there):",
    );
    for (const [b, bin] of bins.entries()) {
      const [from, to] = [smallApplies?.[b], largeApplies[b]];
      const ratio = (f: (r: ApplyRun) => number) => (from && to ? ` (x${(f(to) / f(from)).toFixed(2)})` : '');
      const fig = (r: ApplyRun | undefined, f: (r: ApplyRun) => string) => (r ? f(r) : 'n/a');
      console.log(
        `  build ${b + 1}: ${fig(from, (r) => seconds(r.ms))} -> ${fig(to, (r) => seconds(r.ms))}${ratio((r) => r.ms)} (the swaps ${fig(from, (r) => seconds(swapsMs(r) ?? Number.NaN))} -> ${fig(to, (r) => seconds(swapsMs(r) ?? Number.NaN))}), CPU ${fig(from, (r) => seconds(r.cpuMs))} -> ${fig(to, (r) => seconds(r.cpuMs))}${ratio((r) => r.cpuMs)}, ${fig(from, (r) => `${r.rssMb.toFixed(0)} MB`)} -> ${fig(to, (r) => `${r.rssMb.toFixed(0)} MB`)}${ratio((r) => r.rssMb)}; full lists inside the swaps ${fig(from, (r) => String(fullListsInsideSwaps(r)))} -> ${fig(to, (r) => String(fullListsInsideSwaps(r)))}  ${bin}`,
      );
    }
  }
} finally {
  if (counter) rmSync(counter.dir, { recursive: true, force: true });
  if (stateDir) console.log(`\nthe sandbox stays up: npm run sandbox -- down --state-dir ${stateDir}`);
  else await sb.down();
}

/** The request counter the apply children preload, and the folder of their counts. */
interface ChildCounter {
  dir: string;
  /** The module given to `node --import`. */
  url: string;
}

/**
 * count-requests.ts and counting.ts as plain JavaScript in a folder of their own: the child loads the built CLI and
 * these two, no TypeScript (Node's type stripping would add its own ~20 MB to the peak RSS measured).
 */
function preloadRequestCounter(): ChildCounter {
  const dir = mkdtempSync(path.join(tmpdir(), 'scale-bench-'));
  for (const name of ['counting', 'count-requests']) {
    const source = readFileSync(path.join(import.meta.dirname, `${name}.ts`), 'utf8');
    writeFileSync(
      path.join(dir, `${name}.mjs`),
      stripTypeScriptTypes(source.replaceAll("'./counting.ts'", "'./counting.mjs'")),
    );
  }
  return { dir, url: pathToFileURL(path.join(dir, 'count-requests.mjs')).href };
}

/** One apply: wall time, peak RSS and CPU (maxrss.cjs), its JSON events and the Kubernetes requests it sent. */
interface ApplyRun {
  startedAt: number;
  ms: number;
  cpuMs: number;
  rssMb: number;
  code: number | null;
  events: KubeswapEvent[];
  requests: SentRequest[];
  stderr: string;
}

/**
 * One apply per build, each re-imaging the control plane at the cluster's version (FROM) onto an image registered for
 * it, so every apply has 3 swaps to do whatever ran before it. A failed apply is reported and the next one still runs
 * (its machines may then be a mix: the next apply replaces them all the same).
 */
async function applies(
  sb: Sandbox,
  counter: ChildCounter,
  bins: string[],
  config: string,
  label: string,
  env: NodeJS.ProcessEnv,
): Promise<(ApplyRun | undefined)[]> {
  const out: (ApplyRun | undefined)[] = [];
  for (const [b, bin] of bins.entries()) {
    const image = await registerImage(
      sb,
      sb.versions.from,
      `scale-bench-${label.replace(/\W+/g, '-')}-${b + 1}-${Date.now()}`,
    );
    const args = ['apply', '--config', config, '--to', sb.versions.from, '--image', image, '--yes', '--output', 'json'];
    const run = await applyOnce(bin, args, counter, env).catch((err: unknown) => {
      console.log(`  ${label}, build ${b + 1}: apply did not run: ${(err as Error).message}`);
      return undefined;
    });
    if (run) reportApply(`${label}, build ${b + 1}`, run);
    out.push(run);
  }
  return out;
}

function applyOnce(bin: string, args: string[], counter: ChildCounter, env: NodeJS.ProcessEnv): Promise<ApplyRun> {
  const requestsFile = path.join(counter.dir, `requests-${Date.now()}.json`);
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const started = performance.now();
    const child = spawn(
      process.execPath,
      ['--require', path.join(import.meta.dirname, 'maxrss.cjs'), '--import', counter.url, bin, ...args],
      { env: { ...env, KUBESWAP_BENCH_REQUESTS: requestsFile } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - started;
      const usage = /MAXRSS (\d+) CPU (\d+)/.exec(stderr);
      const events = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as KubeswapEvent);
      const requests = existsSync(requestsFile)
        ? (JSON.parse(readFileSync(requestsFile, 'utf8')) as SentRequest[])
        : [];
      resolve({
        startedAt,
        ms,
        cpuMs: usage ? Number(usage[2]) / 1000 : Number.NaN,
        rssMb: usage ? Number(usage[1]) / 1024 : Number.NaN,
        code,
        events,
        requests,
        stderr,
      });
    });
  });
}

// Function declarations, not consts: the script's top-level await runs before a const below it is initialised.
function seconds(ms: number) {
  return `${(ms / 1000).toFixed(1)} s`;
}
function megabytes(requests: SentRequest[]) {
  return `${(requests.reduce((sum, r) => sum + r.bytes, 0) / 1024 / 1024).toFixed(2)} MB`;
}
/** A Node list or watch: the collection, not one Node by name. */
function ofNodes(r: SentRequest) {
  return / \/api\/v1\/nodes( \(watch\))?$/.test(r.key);
}
/** A pod list or watch: cluster-wide or in one namespace. */
function ofPods(r: SentRequest) {
  return / \/api\/v1\/(namespaces\/\*\/)?pods( \(watch\))?$/.test(r.key);
}
function isWatch(r: SentRequest) {
  return r.key.endsWith('(watch)');
}

/** Where a request falls in an apply: before the first replacement is created, inside the swaps, or after the last. */
function phaseOf(events: KubeswapEvent[], at: number): { phase: string; step: string } {
  const t = (e: KubeswapEvent) => Date.parse(e.at);
  const first = events.find((e) => e.code === 'plan.step' && e.data?.['step'] === 'create-replacement');
  const last = events.findLast((e) => e.code === 'swap.finished');
  const step = events.findLast((e) => e.code === 'plan.step' && t(e) <= at);
  const phase =
    !first || at < t(first) ? 'before the swaps' : last && at > t(last) ? 'after the swaps' : 'inside the swaps';
  return { phase, step: step ? `after step ${String(step.data?.['step'])}` : 'before the first step' };
}

/** From the first replacement's creation to the last swap's end: the swaps alone, without the run's start and end. */
function swapsMs(run: ApplyRun): number | undefined {
  const first = run.events.find((e) => e.code === 'plan.step' && e.data?.['step'] === 'create-replacement');
  const last = run.events.findLast((e) => e.code === 'swap.finished');
  return first && last ? Date.parse(last.at) - Date.parse(first.at) : undefined;
}

/** The lists (first pages) of every Node or every pod of their scope sent inside the swaps. */
function fullListsInsideSwaps(run: ApplyRun): number {
  return run.requests.filter(
    (r) =>
      (ofNodes(r) || ofPods(r)) &&
      !isWatch(r) &&
      !r.selector &&
      !r.continued &&
      phaseOf(run.events, r.at).phase === 'inside the swaps',
  ).length;
}

function reportApply(label: string, run: ApplyRun) {
  const swaps = run.events.filter((e) => e.code === 'swap.finished').length;
  console.log(
    `  ${label}: apply ${seconds(run.ms)} (CPU ${seconds(run.cpuMs)}), peak RSS ${run.rssMb.toFixed(0)} MB (exit ${run.code}, ${swaps} swaps${swapsMs(run) === undefined ? '' : ` in ${seconds(swapsMs(run)!)}`})`,
  );
  if (run.code !== 0) {
    for (const e of run.events.slice(-5)) console.log(`    ${e.code}: ${e.message.slice(0, 200)}`);
    console.log(`    ${run.stderr.trim().slice(-1500).replaceAll('\n', '\n    ')}`);
  }
  const inside = run.requests.filter((r) => phaseOf(run.events, r.at).phase === 'inside the swaps');
  console.log(
    `    Kubernetes requests: ${run.requests.length} (${megabytes(run.requests)}), ${inside.length} inside the swaps (${megabytes(inside)}${swaps > 0 ? `, ${(inside.length / swaps).toFixed(1)} a swap` : ''})`,
  );
  // Node names in field selectors folded, so the drain's per-node lists count as one kind.
  const fold = (selector: string) => selector.replace(/spec\.nodeName=[^,&]+/, 'spec.nodeName=<node>');
  for (const [what, of] of [
    ['Nodes', ofNodes],
    ['pods', ofPods],
  ] as const) {
    for (const watch of [false, true]) {
      const all = run.requests.filter((r) => of(r) && isWatch(r) === watch);
      const full = all.filter((r) => !r.selector);
      const starts = (rs: SentRequest[]) => rs.filter((r) => !r.continued).length;
      const bySelector = new Map<string, number>();
      for (const r of all)
        if (r.selector && !r.continued) bySelector.set(fold(r.selector), (bySelector.get(fold(r.selector)) ?? 0) + 1);
      const selected = [...bySelector].map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(
        `    ${what} ${watch ? 'watches' : 'lists'}: ${starts(all)} (${all.length} requests, ${megabytes(all)}); without a selector ${starts(full)} (${full.length} requests, ${megabytes(full)})${selected ? `; with: ${selected}` : ''}`,
      );
    }
  }
  // Each list or watch without a selector with its pages (the requests that follow it with a continue token).
  const unselected = run.requests.filter((r) => (ofNodes(r) || ofPods(r)) && !r.selector);
  for (const [i, r] of unselected.entries()) {
    if (r.continued) continue;
    const pages = [r];
    for (const next of unselected.slice(i + 1)) {
      if (next.key !== r.key || !next.continued) break;
      pages.push(next);
    }
    const { phase, step } = phaseOf(run.events, r.at);
    console.log(
      `      +${seconds(r.at - run.startedAt).padStart(7)} ${phase}, ${step}: ${r.key}${isWatch(r) ? '' : `, ${pages.length} page${pages.length > 1 ? 's' : ''}`}, ${megabytes(pages)}`,
    );
  }
}

/** Creates the worker Nodes, then the pods bound to them, a bounded number of requests at a time. */
async function populate(kc: k8s.KubeConfig, core: k8s.CoreV1Api, nodes: number, pods: number, kubeletVersion: string) {
  // The generated client opens a new TLS connection per request: 30,000 handshakes dominated the build (25 min on a
  // busy 2-core machine). One keep-alive agent and plain POSTs reuse a few connections instead.
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.ca, cert: opts.cert, key: opts.key });
  const server = new URL(kc.getCurrentCluster()!.server);
  // The server may close a kept-alive connection between two requests (socket hang up): that create is sent again
  // (a 409 from a create that did land counts as done).
  const post = (apiPath: string, body: unknown) => send('POST', apiPath, body, 'application/json');
  const send = async (method: string, apiPath: string, body: unknown, contentType: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await sendOnce(method, apiPath, body, contentType);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (attempt >= 5 || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw err;
      }
    }
  };
  const sendOnce = (method: string, apiPath: string, body: unknown, contentType: string) =>
    new Promise<void>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = https.request(
        {
          agent,
          host: server.hostname,
          port: server.port,
          path: apiPath,
          method,
          headers: { ...opts.headers, 'content-type': contentType, 'content-length': Buffer.byteLength(data) },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => {
            text += String(d);
          });
          res.on('end', () =>
            res.statusCode! < 300 || res.statusCode === 409
              ? resolve()
              : reject(new Error(`${method} ${apiPath}: ${res.statusCode} ${text.slice(0, 500)}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  const namespace = 'scale-bench';
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
  // The ServiceAccount admission wants the namespace's default account (the controller-manager may not be quick).
  for (const ns of [namespace, 'kube-system'])
    await core
      .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } })
      .catch(() => undefined);
  const names = Array.from({ length: nodes }, (_, i) => `worker-${String(i).padStart(5, '0')}`);
  const benchTaint = { key: 'scale-bench', value: 'true', effect: 'NoSchedule' };
  // Ready, at the cluster's version, as kubelets would report them (nothing else updates these objects).
  const status = {
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
    nodeInfo: { kubeletVersion },
  } as k8s.V1NodeStatus;
  await inParallel(names, 32, async (name, i) => {
    await post('/api/v1/nodes', {
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          'node.kubernetes.io/instance-type': 'm5.large',
          'scale-bench': 'true',
        },
      },
      // Tainted NoSchedule: nothing runs them (no kubelet), so a pod the drain of a control-plane Node moves (CoreDNS)
      // must not land there, or the apply waits for it to become available until its addon timeout (5 min).
      spec: { providerID: `aws:///us-east-1a/i-scale${String(i).padStart(12, '0')}`, taints: [benchTaint] },
      // A Node takes its status on create (kube-apiserver pkg/registry/core/node/strategy.go: "Nodes allow *all*
      // fields, including status, to be set on create"), as the kubelet registers it: one request per Node.
      status,
    });
  });
  // The TaintNodesByCondition admission plugin adds node.kubernetes.io/not-ready to every Node created, and the node
  // lifecycle controller lifts it once the Node is Ready, one PATCH each at the controller-manager's client rate
  // (20/s): 5,000 of them queue for minutes, and the replacements' Nodes wait behind them with their own taint, so
  // CoreDNS, evicted by the drains, cannot be scheduled (the apply then fails at its addon timeout). Lifted here, as
  // a kubelet's Node would have it within seconds.
  await inParallel(names, 32, (name) =>
    send('PATCH', `/api/v1/nodes/${name}`, { spec: { taints: [benchTaint] } }, 'application/merge-patch+json'),
  );
  const pod = (i: number) => {
    const node = names[i % names.length]!;
    const system = i < names.length;
    return {
      namespace: system ? 'kube-system' : namespace,
      body: {
        metadata: {
          name: system ? `kube-proxy-scale-${i}` : `app-${i}`,
          // Not k8s-app=kube-proxy: the kube-proxy DaemonSet would adopt them and, as their Nodes lack its node
          // selector (kubernetes.io/os), count them misscheduled (5,000 patches at the controller's rate meanwhile).
          labels: (system ? { 'k8s-app': 'scale-bench-agent' } : { app: `app-${i % 50}` }) as Record<string, string>,
        },
        spec: {
          nodeName: node,
          automountServiceAccountToken: false,
          containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '10m' } } }],
        },
      },
    };
  };
  await inParallel(
    Array.from({ length: pods }, (_, i) => i),
    32,
    (i) => {
      const p = pod(i);
      return post(`/api/v1/namespaces/${p.namespace}/pods`, p.body);
    },
  );
  // The kube-system ones Running and Ready, as their kubelets would report them: an apply's verification fails on any
  // kube-system pod Pending (verify.ts), which is what a pod with no kubelet stays.
  const now = new Date().toISOString();
  const running = {
    status: {
      phase: 'Running',
      startTime: now,
      conditions: ['Initialized', 'ContainersReady', 'Ready', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastTransitionTime: now,
      })),
    },
  };
  await inParallel(
    Array.from({ length: Math.min(pods, names.length) }, (_, i) => i),
    32,
    (i) =>
      send(
        'PATCH',
        `/api/v1/namespaces/kube-system/pods/kube-proxy-scale-${i}/status`,
        running,
        'application/merge-patch+json',
      ),
  );
  agent.destroy();
}

async function inParallel<T>(items: T[], width: number, fn: (item: T, i: number) => Promise<unknown>) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
      if (++done % 5000 === 0) console.log(`  ${done}/${items.length}`);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}
