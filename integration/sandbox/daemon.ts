// The sandbox daemon: started detached (its own process group) by `sandbox up`, it brings the cluster up, keeps
// the load balancer and machine simulator running, and on SIGTERM (or when its owner process is gone) stops
// every process it started. Usage: node --import tsx daemon.ts STATE_DIR
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BringUpResult, bringUp } from './bring-up.ts';
import { startClusterApiWorkers } from './capi-workers.ts';
import { startControlServer } from './control.ts';
import { FaultBook } from './faults.ts';
import { reportCrash } from './machine.ts';
import { allocatePort, isAlive, ProcessTable } from './processes.ts';
import { publishFiles } from './publish.ts';
import { machineOfProcess } from './runtime.ts';
import { MachineSimulator } from './simulator.ts';
import { ensureDir, paths, readJson, type SandboxPlan, writeJson } from './state.ts';

const stateDir = process.argv[2] ?? '';
if (!stateDir) throw new Error('usage: daemon.ts STATE_DIR');
const dir = paths(stateDir);
const plan = readJson<SandboxPlan>(dir.plan);
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const processes = new ProcessTable(ensureDir(dir.pids), ensureDir(dir.logs));
let result: BringUpResult | undefined;
let simulator: MachineSimulator | undefined;
let shuttingDown = false;

async function shutdown(reason: string, removeState: boolean): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`daemon: shutting down (${reason})`);
  simulator?.stop();
  result?.infra?.stop();
  await result?.loadBalancer.stop().catch(() => {});
  await processes.stopAll(3000);
  if (removeState) rmSync(stateDir, { recursive: true, force: true });
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM', false));
process.on('SIGINT', () => void shutdown('SIGINT', false));
// A test runner that died without its after hook must not leave a cluster behind.
if (plan.ownerPid) {
  const owner = plan.ownerPid;
  setInterval(() => {
    const released = plan.ownerOnlyUntilReady && existsSync(dir.ready);
    if (!released && !isAlive(owner)) void shutdown(`owner ${owner} is gone`, true);
  }, 1000).unref();
}

async function main(): Promise<void> {
  writeFileSync(dir.daemonPid, `${process.pid}\n`);
  const controlPort = await allocatePort();
  const controlUrl = `http://127.0.0.1:${controlPort}`;
  const faults = new FaultBook();
  let publish = () => {};
  const started = Date.now();
  result = await bringUp(plan, processes, log, () => publish());
  const { rt, loadBalancer } = result;
  publish = () => publishFiles(rt, controlUrl, loadBalancer);
  processes.onCrash = (name, code) => {
    log(`daemon: ${name} exited unexpectedly (${code})`);
    const owner = machineOfProcess(rt, name);
    if (owner) void reportCrash(rt, owner.machine, owner.component);
  };
  await startControlServer(rt, faults, controlPort, () => loadBalancer.serving());
  writeJson(dir.control, { url: controlUrl });
  simulator = new MachineSimulator(rt, faults);
  simulator.start();
  // The worker MachineDeployment's Machines boot through the simulator: made once it runs (capi-workers.ts).
  if (plan.clusterApiWorkers) {
    await startClusterApiWorkers(rt, join(dir.kubeconfigs, 'admin.conf'), plan.clusterApiWorkers);
  }
  publish();
  writeFileSync(dir.ready, `${Math.round((Date.now() - started) / 1000)}\n`);
  log(`daemon: sandbox ready in ${Math.round((Date.now() - started) / 1000)} s`);
}

main().catch(async (err) => {
  log(`daemon: bring-up failed: ${(err as Error).stack ?? err}`);
  writeFileSync(dir.failed, `${(err as Error).message}\n`);
  await shutdown('bring-up failed', false);
});
