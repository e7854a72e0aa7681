// A TCP load balancer on one stable port in front of the apiservers. Like an NLB, it sends new connections only to
// targets registered in the ELBv2 target group (read from moto) that pass a health check (HTTPS /readyz here), and lets connections
// to a deregistered target finish for the deregistration delay before cutting them.
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface LoadBalancerOptions {
  port: number;
  /** Registered, non-draining instance ids of the target group. */
  registeredTargets: () => Promise<string[]>;
  /** The apiserver port of an instance's machine, if the machine runs one. */
  portOf: (instanceId: string) => number | undefined;
  deregistrationDelayMs: number;
  pollIntervalMs?: number;
  healthIntervalMs?: number;
  /** The target health check; a TCP connect by default. */
  probe?: (port: number) => Promise<boolean>;
  log: (line: string) => void;
}

interface Backend {
  instanceId: string;
  port: number;
  healthy: boolean;
  /** Consecutive failed health checks; a target turns unhealthy at UNHEALTHY_THRESHOLD. */
  failures: number;
  connections: Set<Socket>;
  /** Set when the target left the group: connections are cut at this time. */
  drainUntil?: number;
}

const UNHEALTHY_THRESHOLD = 3;

export class LoadBalancer {
  private readonly backends = new Map<string, Backend>();
  private server?: Server;
  private timers: NodeJS.Timeout[] = [];
  private next = 0;

  constructor(private readonly options: LoadBalancerOptions) {}

  async start(): Promise<void> {
    this.server = createServer((client) => this.route(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, '127.0.0.1', () => resolve());
    });
    await this.syncTargets();
    this.timers.push(setInterval(() => void this.syncTargets().catch(() => {}), this.options.pollIntervalMs ?? 200));
    this.timers.push(setInterval(() => void this.checkHealth(), this.options.healthIntervalMs ?? 1000));
    await this.checkHealth();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const b of this.backends.values()) for (const c of b.connections) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Instance ids currently receiving new connections. */
  serving(): string[] {
    return [...this.backends.values()].filter((b) => b.healthy && b.drainUntil === undefined).map((b) => b.instanceId);
  }

  private route(client: Socket): void {
    const candidates = [...this.backends.values()].filter((b) => b.healthy && b.drainUntil === undefined);
    if (candidates.length === 0) {
      client.destroy();
      return;
    }
    const backend = candidates[this.next++ % candidates.length]!;
    const upstream = connect(backend.port, '127.0.0.1');
    backend.connections.add(client);
    const close = () => {
      backend.connections.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream).pipe(client);
  }

  private async syncTargets(): Promise<void> {
    const registered = new Set(await this.options.registeredTargets());
    const now = Date.now();
    for (const id of registered) {
      const port = this.options.portOf(id);
      const known = this.backends.get(id);
      if (known && known.port === port) {
        if (known.drainUntil !== undefined) {
          this.options.log(`lb: ${id} registered again`);
          known.drainUntil = undefined;
        }
      } else if (port !== undefined) {
        this.options.log(`lb: ${id} registered (port ${port})`);
        this.backends.set(id, { instanceId: id, port, healthy: false, failures: 0, connections: new Set() });
        void this.checkHealth();
      }
    }
    for (const backend of this.backends.values()) {
      if (!registered.has(backend.instanceId) && backend.drainUntil === undefined) {
        backend.drainUntil = now + this.options.deregistrationDelayMs;
        this.options.log(`lb: ${backend.instanceId} deregistered, draining ${backend.connections.size} connections`);
      }
      if (backend.drainUntil !== undefined && now >= backend.drainUntil) {
        for (const c of backend.connections) c.destroy();
        this.backends.delete(backend.instanceId);
        this.options.log(`lb: ${backend.instanceId} drained`);
      }
    }
  }

  private async checkHealth(): Promise<void> {
    await Promise.all(
      [...this.backends.values()].map(async (b) => {
        const passed = await (this.options.probe ?? ((port) => tcpProbe(port, 500)))(b.port);
        b.failures = passed ? 0 : b.failures + 1;
        // A busy apiserver can miss one check: like an NLB, only consecutive failures make a healthy target unhealthy.
        const healthy = passed || (b.healthy && b.failures < UNHEALTHY_THRESHOLD);
        if (healthy !== b.healthy) this.options.log(`lb: ${b.instanceId} ${healthy ? 'healthy' : 'unhealthy'}`);
        // Like an NLB with connection termination on unhealthy targets: clients reconnect to a healthy one.
        if (b.healthy && !healthy) for (const c of b.connections) c.destroy();
        b.healthy = healthy;
      }),
    );
  }
}

/** An NLB-style TCP health check: the port accepts a connection within the timeout. */
export function tcpProbe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** An HTTPS health check like kubeadm load balancer guides configure: GET /readyz answers 200. */
export function readyzProbe(port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
