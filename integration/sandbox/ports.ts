// Ports for the servers the tests start, unique across every process of a run: test files run side by side, each
// with its own sandbox daemon and fixtures. A port the kernel hands out for bind(0) stays free only until someone
// binds it, and etcd or kube-apiserver binds it seconds later (a simulated VM only after its boot and join): in
// between, another process's bind(0) or any outgoing connection (both draw from the ephemeral range) can take it.
// So ports come from below the ephemeral range, where the kernel never hands any out, and each is reserved across
// processes by a file created atomically (link) that names its owner; the owner's exit releases them.
import { linkSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const REGISTRY = join(tmpdir(), `kubeswap-ports-${userInfo().uid}`);
/** Lowest port used; the range ends just below the kernel's ephemeral range (net.ipv4.ip_local_port_range). */
const RANGE_START = 15_000;
const MIN_RANGE = 2_000;

const mine = new Set<number>();
let exitHook = false;

/** A port on 127.0.0.1 that nothing listens on and no other test process of this machine holds. */
export async function allocatePort(): Promise<number> {
  const range = portRange();
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = range ? range.low + Math.floor(Math.random() * (range.high - range.low)) : await kernelPort();
    if (!reserve(port)) continue;
    if (await bindable(port)) return port;
    release(port);
  }
  throw new Error(`no free port to reserve in ${REGISTRY}`);
}

/** Drops the reservations of a process that is gone without releasing them (killed by SIGKILL). */
export function releasePortsOf(pid: number): void {
  for (const [port, owner] of reservations()) if (owner === pid) rmSync(join(REGISTRY, String(port)), { force: true });
}

/** Drops every reservation whose owner is no longer alive, and the registry folder once it is empty. */
export function sweepStalePorts(): void {
  for (const [port, owner] of reservations()) if (!alive(owner)) rmSync(join(REGISTRY, String(port)), { force: true });
  try {
    rmdirSync(REGISTRY);
  } catch {
    // Not empty (live reservations) or already gone.
  }
}

/** [low, high) below the ephemeral range, or undefined when the machine leaves no room there. */
function portRange(): { low: number; high: number } | undefined {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // Not Linux: keep the IANA default's bottom.
  }
  return ephemeralLow - RANGE_START >= MIN_RANGE ? { low: RANGE_START, high: ephemeralLow } : undefined;
}

function reserve(port: number): boolean {
  const file = join(REGISTRY, String(port));
  // link() creates the name atomically with its content, so nobody ever reads a reservation without its owner.
  const draft = join(REGISTRY, `.${process.pid}.draft`);
  try {
    mkdirSync(REGISTRY, { recursive: true });
    writeFileSync(draft, `${process.pid}\n`);
    linkSync(draft, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOENT: a sweep removed the empty folder in between; the next attempt creates it again.
    if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
    // Left by a process that was killed: drop it, and let a later attempt take the port.
    if (code === 'EEXIST' && !alive(ownerOf(file))) rmSync(file, { force: true });
    return false;
  } finally {
    rmSync(draft, { force: true });
  }
  mine.add(port);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const p of mine) rmSync(join(REGISTRY, String(p)), { force: true });
    });
  }
  return true;
}

function ownerOf(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return 0;
  }
}

function release(port: number): void {
  mine.delete(port);
  rmSync(join(REGISTRY, String(port)), { force: true });
}

function reservations(): [number, number][] {
  let files: string[];
  try {
    files = readdirSync(REGISTRY);
  } catch {
    return [];
  }
  return files
    .filter((file) => /^\d+$/.test(file))
    .map((file): [number, number] => [Number(file), ownerOf(join(REGISTRY, file))]);
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
