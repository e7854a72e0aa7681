import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { FaultBook } from '../../integration/sandbox/faults.ts';
import { LoadBalancer } from '../../integration/sandbox/load-balancer.ts';
import { allocatePort, sleep } from '../../integration/sandbox/processes.ts';

/** A backend that answers each connection with its own name, then keeps the connection open. */
async function backend(name: string): Promise<{ server: Server; port: number }> {
  const port = await allocatePort();
  const server = createServer((s) => {
    s.on('error', () => {});
    s.write(name);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port };
}

function ask(port: number): Promise<{ answer: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (d) => resolve({ answer: d.toString(), socket }));
    socket.once('error', reject);
    socket.once('close', () => resolve({ answer: '', socket }));
  });
}

describe('sandbox load balancer', () => {
  let registered: string[];
  let lb: LoadBalancer;
  let a: { server: Server; port: number };
  let b: { server: Server; port: number };
  let lbPort: number;

  beforeEach(async () => {
    a = await backend('a');
    b = await backend('b');
    lbPort = await allocatePort();
    registered = ['i-a'];
    const ports: Record<string, number> = { 'i-a': a.port, 'i-b': b.port };
    lb = new LoadBalancer({
      port: lbPort,
      registeredTargets: async () => registered,
      portOf: (id) => ports[id],
      deregistrationDelayMs: 300,
      pollIntervalMs: 20,
      healthIntervalMs: 50,
      log: () => {},
    });
    await lb.start();
  });
  afterEach(async () => {
    await lb.stop();
    a.server.close();
    b.server.close();
  });

  it('sends connections only to registered targets', async () => {
    const first = await ask(lbPort);
    assert.equal(first.answer, 'a');
    first.socket.destroy();
    registered = ['i-a', 'i-b'];
    await sleep(150);
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await ask(lbPort);
      answers.add(r.answer);
      r.socket.destroy();
    }
    assert.deepEqual([...answers].sort(), ['a', 'b']);
  });

  it('lets connections to a deregistered target live for the deregistration delay, then cuts them', async () => {
    registered = ['i-a', 'i-b'];
    await sleep(150);
    const open: Socket[] = [];
    let toA: Socket | undefined;
    while (!toA) {
      const r = await ask(lbPort);
      if (r.answer === 'a') toA = r.socket;
      else open.push(r.socket);
    }
    registered = ['i-b'];
    await sleep(100);
    assert.equal(toA.destroyed, false, 'draining connection still open');
    assert.equal((await ask(lbPort)).answer, 'b', 'new connections avoid the draining target');
    await sleep(400);
    assert.equal(toA.destroyed || toA.readableEnded, true, 'cut after the delay');
    for (const s of open) s.destroy();
  });

  it('skips a registered target whose port does not accept connections (health check)', async () => {
    registered = ['i-a', 'i-b'];
    await new Promise<void>((r) => b.server.close(() => r()));
    await sleep(200);
    assert.deepEqual(lb.serving(), ['i-a']);
  });
});

describe('sandbox fault book', () => {
  it('gives an instance its own fault first, else the next queued launch fault, each once', () => {
    const book = new FaultBook();
    book.arm({ kind: 'never-boot', next: true });
    book.arm({ kind: 'slow-etcd-catchup', instanceId: 'i-2', seconds: 5 });
    assert.deepEqual(book.take('i-2'), { kind: 'slow-etcd-catchup', seconds: 5 });
    assert.deepEqual(book.take('i-1'), { kind: 'never-boot', seconds: 20 });
    assert.equal(book.take('i-3'), undefined);
  });

  it('refuses running faults and launch faults without a target', () => {
    const book = new FaultBook();
    assert.throws(() => book.arm({ kind: 'crash-etcd', next: true }), /not a launch fault/);
    assert.throws(() => book.arm({ kind: 'never-boot' }), /instance id or --next/);
  });
});
