// One etcd3 client bound to ONE endpoint: the only file that constructs Etcd3. Per-endpoint clients are
// what etcdctl does for `endpoint health/status`; a multi-host etcd3 client sends each call to a random
// host, so "this member's status" would be meaningless.
import { noop } from 'cockatiel';
import { Etcd3, EtcdPermissionDeniedError, type ISnapshotResponse } from 'etcd3';
import type { EtcdAlarm, EtcdMember } from '../../domain/model.ts';
import type { EtcdTls } from '../../ports/etcd.ts';
import { toEtcdError } from './errors.ts';
import { toAlarms, toMember } from './members.ts';
import { ipEndpointChannel } from './tls-channel.ts';

/** What `maintenance.status()` says about the member serving an endpoint. */
export interface EndpointStatus {
  memberId: string;
  /** The leader this member believes in; '0' while it knows none. */
  leaderId: string;
  isLearner: boolean;
  version: string;
  dbSizeBytes: string;
  /** Logically in use; the rest is reclaimed by defragmentation. */
  dbSizeInUseBytes: string;
  raftTerm: string;
  raftIndex: string;
  errors: string[];
}

export interface SnapshotChunk {
  blob: Buffer;
  /** Store revision of the snapshot, from the first message's header. */
  revision?: string;
}

/** The calls the port makes against one endpoint; every method throws EtcdError only. */
export interface EndpointConnection {
  readonly endpoint: string;
  status(): Promise<EndpointStatus>;
  /** Linearizable GET of key `health` like etcdctl; permission denied counts as success (it went through raft). */
  readHealthKey(): Promise<void>;
  memberList(): Promise<EtcdMember[]>;
  alarms(): Promise<EtcdAlarm[]>;
  moveLeader(targetId: string): Promise<void>;
  removeMember(id: string): Promise<void>;
  /** The snapshot stream, bounded by `timeoutMs` as a whole. */
  snapshot(timeoutMs: number): AsyncIterable<SnapshotChunk>;
  close(): void;
}

export type ConnectEndpoint = (endpoint: string) => EndpointConnection;

export function etcd3Connector(tls: EtcdTls | undefined, timeoutMs: number): ConnectEndpoint {
  return (endpoint) => new Etcd3Connection(endpoint, tls, timeoutMs);
}

class Etcd3Connection implements EndpointConnection {
  private readonly client: Etcd3;

  constructor(
    readonly endpoint: string,
    tls: EtcdTls | undefined,
    private readonly timeoutMs: number,
  ) {
    const ipChannel = tls ? ipEndpointChannel(endpoint, tls) : undefined;
    this.client = new Etcd3({
      hosts: endpoint,
      ...(tls ? { credentials: { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key } } : {}),
      ...(ipChannel ? { grpcOptions: ipChannel } : {}),
      // etcd3's default is 3 retries plus a circuit breaker: a dead member would take 3 deadlines and the
      // breaker would hide a recovered one for 5 s. We want one exact answer per call.
      faultHandling: { host: () => noop, global: noop },
      // A function, so each call gets its own deadline (a static object is evaluated once). etcd3's dialTimeout
      // is never read (microsoft/etcd3#137): without this, a call to a silent host hangs forever.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    });
  }

  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw toEtcdError(err, this.endpoint, action, this.timeoutMs);
    }
  }

  status(): Promise<EndpointStatus> {
    return this.call('status', async () => {
      const s = await this.client.maintenance.status();
      return {
        memberId: String(s.header.member_id),
        leaderId: String(s.leader),
        isLearner: s.isLearner === true,
        version: s.version,
        dbSizeBytes: String(s.dbSize),
        dbSizeInUseBytes: String(s.dbSizeInUse),
        raftTerm: String(s.raftTerm),
        raftIndex: String(s.raftIndex),
        errors: [...(s.errors ?? [])],
      };
    });
  }

  readHealthKey(): Promise<void> {
    return this.call('health read', async () => {
      try {
        await this.client.get('health').string();
      } catch (err) {
        if (!(err instanceof EtcdPermissionDeniedError)) throw err;
      }
    });
  }

  memberList(): Promise<EtcdMember[]> {
    return this.call('member list', async () => {
      const { members } = await this.client.cluster.memberList({ linearizable: true });
      return members.map(toMember);
    });
  }

  alarms(): Promise<EtcdAlarm[]> {
    return this.call('alarm list', async () => {
      const { alarms } = await this.client.maintenance.alarm({ action: 'Get', alarm: 'None', memberID: 0 });
      return toAlarms(alarms ?? []);
    });
  }

  moveLeader(targetId: string): Promise<void> {
    return this.call('move leader', async () => {
      await this.client.maintenance.moveLeader({ targetID: targetId });
    });
  }

  removeMember(id: string): Promise<void> {
    return this.call('member remove', async () => {
      await this.client.cluster.memberRemove({ ID: id });
    });
  }

  async *snapshot(timeoutMs: number): AsyncIterable<SnapshotChunk> {
    const stream = await this.call('snapshot', () =>
      this.client.maintenance.snapshot({ deadline: Date.now() + timeoutMs }),
    );
    // grpc-js hands back a Node Readable (object mode); etcd3's typing only declares `on(...)`.
    const messages = stream as unknown as AsyncIterable<ISnapshotResponse>;
    let first = true;
    try {
      for await (const message of messages) {
        const header = first ? message.header : undefined;
        const revision = header?.revision && String(header.revision) !== '0' ? String(header.revision) : undefined;
        first = false;
        yield { blob: message.blob, ...(revision ? { revision } : {}) };
      }
    } catch (err) {
      throw toEtcdError(err, this.endpoint, 'snapshot', timeoutMs);
    }
  }

  close(): void {
    this.client.close();
  }
}
