// The daemon's control endpoint on 127.0.0.1: status and fault injection for the CLI and the tests.
import { createServer, type Server } from 'node:http';
import { type FaultBook, type FaultRequest, isLaunchFault, isRunningFault } from './faults.ts';
import { healMachine } from './machine.ts';
import { machineStatuses } from './publish.ts';
import { apiServerProcess, etcdProcess, type Machine, type Runtime } from './runtime.ts';

export function startControlServer(
  rt: Runtime,
  faults: FaultBook,
  port: number,
  lbServing: () => string[],
): Promise<Server> {
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      void (async () => {
        if (req.method === 'GET' && req.url === '/status') {
          return reply(200, { machines: machineStatuses(rt), faults: faults.pending(), loadBalancer: lbServing() });
        }
        if (req.method === 'GET' && req.url === '/aws/kubeswap-requests') {
          return reply(200, { requests: rt.awsFront.kubeswapRequests() });
        }
        if (req.method === 'POST' && req.url === '/aws/forget-terminated') {
          return reply(200, { forgotten: await rt.awsFront.forgetTerminated() });
        }
        if (req.method === 'POST' && req.url === '/aws/lose-run-instances-responses') {
          return reply(200, { lost: rt.awsFront.loseRunInstancesResponses(JSON.parse(text).count as number) });
        }
        if (req.method === 'POST' && req.url === '/aws/iam-user') {
          const { name, policy } = JSON.parse(text) as { name: string; policy: string };
          return reply(200, await rt.awsFront.iamUser(name, policy));
        }
        if (req.method === 'POST' && req.url === '/fault') {
          return reply(200, await applyFault(rt, faults, JSON.parse(text) as FaultRequest));
        }
        reply(404, { error: 'not found' });
      })().catch((err) => reply(400, { error: (err as Error).message }));
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

export async function applyFault(rt: Runtime, faults: FaultBook, request: FaultRequest): Promise<{ applied: string }> {
  if (isLaunchFault(request.kind)) {
    faults.arm(request);
    return { applied: `${request.kind} armed for ${request.instanceId ?? 'the next launch'}` };
  }
  if (!isRunningFault(request.kind)) throw new Error(`unknown fault ${request.kind}`);
  const machine = findMachine(rt, request);
  switch (request.kind) {
    case 'crash-etcd':
      if (!rt.processes.crash(etcdProcess(machine))) throw new Error(`${machine.node} runs no etcd`);
      break;
    case 'crash-apiserver':
      if (!rt.processes.crash(apiServerProcess(machine))) throw new Error(`${machine.node} runs no kube-apiserver`);
      break;
    case 'heal':
      await healMachine(rt, machine);
      break;
  }
  rt.publish();
  return { applied: `${request.kind} on ${machine.node}` };
}

function findMachine(rt: Runtime, request: FaultRequest): Machine {
  const machine = [...rt.machines.values()].find((m) => m.instanceId === request.instanceId || m.node === request.node);
  if (!machine || machine.state === 'terminated') {
    throw new Error(`no running machine ${request.instanceId ?? request.node ?? '(none given)'}`);
  }
  return machine;
}
