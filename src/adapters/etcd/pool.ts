// Per-endpoint connections, created on first use and replaced after a transport failure (long-lived
// etcd3 clients can wedge on `RST_STREAM`, microsoft/etcd3#153; a fresh channel is cheap for a CLI).
import type { ConnectEndpoint, EndpointConnection } from './connection.ts';
import { EtcdError, type EtcdErrorCode } from './errors.ts';
import { normalizeEndpoint } from './members.ts';

const TRANSPORT_FAILURES = new Set<string>(['etcd.unreachable', 'etcd.timeout', 'etcd.tls']);

const ACTIONABLE: EtcdErrorCode[] = ['etcd.tls', 'etcd.permission-denied'];

export function isTransportFailure(err: unknown): boolean {
  return err instanceof EtcdError && TRANSPORT_FAILURES.has(err.code);
}

export class EndpointPool {
  private readonly connections = new Map<string, EndpointConnection>();

  constructor(private readonly connect: ConnectEndpoint) {}

  /** The connection for one endpoint (normalized: `host:port` means `https://host:port`). */
  connection(endpoint: string): EndpointConnection {
    const key = normalizeEndpoint(endpoint);
    let connection = this.connections.get(key);
    if (!connection) {
      connection = this.connect(key);
      this.connections.set(key, connection);
    }
    return connection;
  }

  /** Runs `operation` against one endpoint; a transport failure retires that endpoint's connection. */
  async use<T>(endpoint: string, operation: (connection: EndpointConnection) => Promise<T>): Promise<T> {
    const connection = this.connection(endpoint);
    try {
      return await operation(connection);
    } catch (err) {
      if (isTransportFailure(err)) this.retire(connection);
      throw err;
    }
  }

  /**
   * The first endpoint to answer wins; the others are left to finish within their deadline. Used for
   * reads that any member answers the same (member list, alarms), so one dead member costs nothing.
   */
  async any<T>(
    endpoints: readonly string[],
    action: string,
    operation: (connection: EndpointConnection) => Promise<T>,
  ): Promise<T> {
    if (endpoints.length === 0) throw new EtcdError('etcd.unreachable', `${action}: no etcd endpoint configured`);
    try {
      return await Promise.any(endpoints.map((endpoint) => this.use(endpoint, operation)));
    } catch (err) {
      const failures = err instanceof AggregateError ? err.errors : [err];
      const detail = failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; ');
      const codes = new Set(failures.map((f) => (f instanceof EtcdError ? f.code : 'etcd.request-failed')));
      const [only] = codes;
      // A certificate problem is the actionable cause even when some members are also down.
      const actionable = ACTIONABLE.find((c) => codes.has(c));
      const code: EtcdErrorCode =
        (codes.size === 1 && only) ||
        actionable ||
        (failures.every(isTransportFailure) ? 'etcd.unreachable' : 'etcd.request-failed');
      throw new EtcdError(code, `${action} failed at every etcd endpoint: ${detail}`, { cause: err });
    }
  }

  retire(connection: EndpointConnection): void {
    const key = normalizeEndpoint(connection.endpoint);
    if (this.connections.get(key) === connection) this.connections.delete(key);
    connection.close();
  }

  close(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
