// EtcdPort over etcd3: one client per endpoint (pool.ts), a real deadline on every call (connection.ts),
// and answers in the engine's types. Construct with openEtcd().
import type { EtcdAlarm, EtcdEndpointHealth, EtcdMember } from '../../domain/model.ts';
import type { EtcdPort, EtcdTls } from '../../ports/etcd.ts';
import type { EtcdMemberStatus } from '../../ports/readiness.ts';
import { type ConnectEndpoint, type EndpointConnection, etcd3Connector } from './connection.ts';
import { EtcdError } from './errors.ts';
import { checkEndpoint } from './health.ts';
import { endpointsFromMembers, normalizeEndpoint } from './members.ts';
import { moveLeader, removeMember } from './membership.ts';
import { EndpointPool } from './pool.ts';
import { saveSnapshot } from './snapshot.ts';

export interface EtcdOptions {
  /** `https://host:2379` (or `host:2379`, read as https). */
  endpoints: string[];
  /** Client certificate as kubeadm issues it (etcd/ca.crt, apiserver-etcd-client.{crt,key}). */
  tls?: EtcdTls;
  /** Deadline of every unary call. Default 5 s, like etcdctl's --command-timeout. */
  timeoutMs?: number;
  /** Deadline of the whole snapshot stream. Default 5 min. */
  snapshotTimeoutMs?: number;
  /** Where to look for endpoints when none of `endpoints` answers (see EndpointFallback). */
  fallback?: EndpointFallback;
}

/**
 * A second source of endpoints, asked when every known endpoint fails to answer: a re-run seeded with the
 * configured endpoints finds them all gone once an earlier run replaced every member, while the control plane's
 * etcd static pods advertise the current client URLs (kubeadm's etcd.advertise-client-urls annotation).
 */
export interface EndpointFallback {
  /** Where the endpoints come from, for the message when none answers either. */
  source: string;
  /** undefined: not to be asked now (the first failure stands, as without a fallback). */
  endpoints(): Promise<string[] | undefined>;
}

/** No answer at all from any endpoint (as opposed to an answer etcd refused, or a certificate problem). */
const NO_ANSWER = new Set(['etcd.unreachable', 'etcd.timeout']);

export const DEFAULT_ETCD_TIMEOUT_MS = 5_000;
export const DEFAULT_SNAPSHOT_TIMEOUT_MS = 300_000;

export function openEtcd(options: EtcdOptions): EtcdClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_ETCD_TIMEOUT_MS;
  return new EtcdClient(options.endpoints, etcd3Connector(options.tls, timeoutMs), {
    snapshotTimeoutMs: options.snapshotTimeoutMs ?? DEFAULT_SNAPSHOT_TIMEOUT_MS,
    ...(options.fallback ? { fallback: options.fallback } : {}),
  });
}

export class EtcdClient implements EtcdPort {
  private readonly pool: EndpointPool;
  private known: string[];
  private readonly snapshotTimeoutMs: number;
  private readonly fallback: EndpointFallback | undefined;
  /** The fallback's answer while it is being asked: concurrent reads (member list, alarms) ask it once. */
  private asking: Promise<string[] | undefined> | undefined;

  /** `connect` is injectable so tests can stand in for etcd; production code uses openEtcd(). */
  constructor(
    endpoints: readonly string[],
    connect: ConnectEndpoint,
    options: { snapshotTimeoutMs?: number; fallback?: EndpointFallback } = {},
  ) {
    if (endpoints.length === 0) throw new EtcdError('etcd.unreachable', 'no etcd endpoint given');
    this.known = [...new Set(endpoints.map(normalizeEndpoint))];
    this.pool = new EndpointPool(connect);
    this.snapshotTimeoutMs = options.snapshotTimeoutMs ?? DEFAULT_SNAPSHOT_TIMEOUT_MS;
    this.fallback = options.fallback;
  }

  /**
   * The first known endpoint to answer; when none answers at all, the fallback's endpoints that are not known
   * yet are tried before giving up, and the error then names both sets.
   */
  private async anyEndpoint<T>(action: string, operation: (connection: EndpointConnection) => Promise<T>): Promise<T> {
    try {
      return await this.pool.any(this.known, action, operation);
    } catch (err) {
      if (!this.fallback || !(err instanceof EtcdError) || !NO_ANSWER.has(err.code)) throw err;
      const tried = [...this.known];
      this.asking ??= this.fallback.endpoints().finally(() => {
        this.asking = undefined;
      });
      let found: string[];
      try {
        const answer = await this.asking;
        if (answer === undefined) throw err;
        found = [...new Set(answer.map(normalizeEndpoint))];
      } catch (lookup) {
        if (lookup === err) throw err;
        throw this.noneAnswered(action, tried, `could not be read (${(lookup as Error).message})`, err);
      }
      const fresh = found.filter((e) => !tried.includes(e));
      if (fresh.length === 0) throw this.noneAnswered(action, tried, `are the same or none (${found.join(', ')})`, err);
      this.known = fresh;
      try {
        return await this.pool.any(this.known, action, operation);
      } catch (again) {
        this.known = tried;
        if (!(again instanceof EtcdError) || !NO_ANSWER.has(again.code)) throw again;
        throw this.noneAnswered(action, tried, `(${fresh.join(', ')}) did not answer either`, again);
      }
    }
  }

  private noneAnswered(action: string, tried: string[], fallback: string, cause: EtcdError): EtcdError {
    return new EtcdError(
      cause.code,
      `${action}: none of the etcd endpoints answered: ${tried.join(', ')}; the endpoints ${this.fallback!.source} ${fallback} (${cause.message})`,
      {
        cause,
        hint: 'an earlier run may have replaced every member the endpoints name: pass --etcd-endpoints with the client URLs of the current members (kubeadm.kubernetes.io/etcd.advertise-client-urls on the etcd pods in kube-system), and check that they listen',
      },
    );
  }

  endpoints(): string[] {
    return [...this.known];
  }

  /**
   * Also follows membership: the endpoints become what the members advertise. A rolling replacement
   * retires every seed endpoint the run started with, so without this the port would lose the cluster.
   */
  async memberList(): Promise<EtcdMember[]> {
    const members = await this.anyEndpoint('etcd member list', (c) => c.memberList());
    const advertised = endpointsFromMembers(members);
    if (advertised.length > 0) this.known = advertised;
    return members;
  }

  /** Never throws: an endpoint that cannot even be dialled is reported unhealthy with the reason. */
  async health(endpoints: string[] = this.known): Promise<EtcdEndpointHealth[]> {
    return Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          const connection = this.pool.connection(endpoint);
          const health = await checkEndpoint(connection);
          // No status answer means the channel itself failed: start the next check on a fresh one.
          if (!health.healthy && health.memberId === undefined) this.pool.retire(connection);
          return health;
        } catch (err) {
          return { endpoint, healthy: false, error: err instanceof Error ? err.message : String(err), tookMs: 0 };
        }
      }),
    );
  }

  /**
   * One pass's etcd read without a second round trip: the member list (linearizable) and the health checks of the
   * endpoints the last list named go out together, so the pass waits for the slower of them, not their sum. Only an
   * endpoint the list adds (a member that joined since) is checked after it; the checks of endpoints no longer listed
   * (a member removed since) are left out of the answer, as if they had not been asked.
   */
  async memberHealth(): Promise<{ members: EtcdMember[]; health: EtcdEndpointHealth[] }> {
    // One check per endpoint, so the answer waits only for the endpoints the list names: a removed member's VM may be
    // shutting down, and its check would hold the pass up to the request deadline for an answer left out anyway.
    const early = new Map(this.known.map((e) => [e, this.health([e]).then(([h]) => h!)]));
    const members = await this.memberList();
    const listed = [...new Set(members.flatMap((m) => m.clientUrls))];
    const health = await Promise.all(listed.map((e) => early.get(e) ?? this.health([e]).then(([h]) => h!)));
    return { members, health };
  }

  /** Each endpoint's version and database size (readiness report); an endpoint that fails says why. */
  async statuses(endpoints: string[] = this.known): Promise<EtcdMemberStatus[]> {
    return Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          const s = await this.pool.connection(endpoint).status();
          return {
            endpoint,
            memberId: s.memberId,
            version: s.version,
            dbSizeBytes: Number(s.dbSizeBytes),
            dbSizeInUseBytes: Number(s.dbSizeInUseBytes),
          };
        } catch (err) {
          return { endpoint, error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  alarms(): Promise<EtcdAlarm[]> {
    return this.anyEndpoint('etcd alarm list', (c) => c.alarms());
  }

  async moveLeader(targetId: string): Promise<void> {
    await moveLeader(this.pool, await this.memberList(), this.known, targetId);
  }

  async removeMember(id: string): Promise<void> {
    await removeMember(this.pool, await this.memberList(), this.known, id);
  }

  /** From the first endpoint that streams a complete snapshot, healthy members first. */
  async snapshot(file: string): Promise<{ file: string; bytes: number; revision?: string }> {
    const health = await this.health();
    const ordered = [...health].sort((a, b) => Number(b.healthy) - Number(a.healthy)).map((h) => h.endpoint);
    const failures: string[] = [];
    for (const endpoint of ordered) {
      try {
        const { endpoint: _from, ...result } = await saveSnapshot(
          this.pool.connection(endpoint),
          file,
          this.snapshotTimeoutMs,
        );
        return result;
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    throw new EtcdError('etcd.snapshot-failed', `etcd snapshot failed at every endpoint: ${failures.join('; ')}`);
  }

  close(): void {
    this.pool.close();
  }
}
