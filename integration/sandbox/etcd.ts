// etcd members as kubeadm's stacked etcd runs them (peer and client TLS, member name == node name), and the
// membership calls `kubeadm join` makes: add as learner through an existing member, then promote once in sync.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { ipAwareChannels } from '../../src/adapters/etcd/tls-channel.ts';
import { sleep } from './processes.ts';

export interface EtcdMemberSpec {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  /** The machine's pki dir (holding etcd/server.crt, etcd/peer.crt, etcd/ca.crt). */
  pkiDir: string;
}

export interface EtcdTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export const clientUrl = (port: number) => `https://127.0.0.1:${port}`;
export const peerUrl = (port: number) => `https://127.0.0.1:${port}`;

/** Flags of kubeadm's etcd static pod, plus --unsafe-no-fsync because the sandbox trades durability for speed. */
export function etcdArgs(m: EtcdMemberSpec, initialCluster: string, state: 'new' | 'existing'): string[] {
  const pki = join(m.pkiDir, 'etcd');
  return [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${clientUrl(m.clientPort)}`,
    `--advertise-client-urls=${clientUrl(m.clientPort)}`,
    `--listen-peer-urls=${peerUrl(m.peerPort)}`,
    `--initial-advertise-peer-urls=${peerUrl(m.peerPort)}`,
    `--initial-cluster=${initialCluster}`,
    `--initial-cluster-state=${state}`,
    '--initial-cluster-token=kubeswap-sandbox',
    `--cert-file=${join(pki, 'server.crt')}`,
    `--key-file=${join(pki, 'server.key')}`,
    `--trusted-ca-file=${join(pki, 'ca.crt')}`,
    '--client-cert-auth=true',
    `--peer-cert-file=${join(pki, 'peer.crt')}`,
    `--peer-key-file=${join(pki, 'peer.key')}`,
    `--peer-trusted-ca-file=${join(pki, 'ca.crt')}`,
    '--peer-client-cert-auth=true',
    '--snapshot-count=10000',
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function initialClusterOf(members: { name: string; peerPort: number }[]): string {
  return members.map((m) => `${m.name}=${peerUrl(m.peerPort)}`).join(',');
}

/** An etcd3 client with a per-call deadline (etcd3 has no dial timeout) and no hidden retries. */
export function etcdClient(endpoints: string[], tls: EtcdTls, deadlineMs = 5000): Etcd3 {
  const [ca, cert, key] = [readFileSync(tls.caFile), readFileSync(tls.certFile), readFileSync(tls.keyFile)];
  return new Etcd3({
    hosts: endpoints,
    credentials: { rootCertificate: ca, certChain: cert, privateKey: key },
    // The members listen on 127.0.0.1: without this grpc-js sends the IP as TLS server name (Node's DEP0123).
    grpcOptions: ipAwareChannels({ ca, cert, key }),
    faultHandling: { host: () => noop, global: noop },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + deadlineMs }),
  });
}

export interface Member {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export async function listMembers(client: Etcd3): Promise<Member[]> {
  const { members } = await client.cluster.memberList({ linearizable: true });
  return members.map((m) => ({
    id: m.ID,
    name: m.name,
    peerUrls: m.peerURLs,
    clientUrls: m.clientURLs,
    isLearner: Boolean(m.isLearner),
  }));
}

/**
 * Adds a learner like kubeadm join does, retrying etcd's "unhealthy cluster" refusal (the serving member must have
 * been connected to every voter for 5 s). Returns the new member's id and the --initial-cluster it must start with.
 */
export async function addLearner(
  client: Etcd3,
  name: string,
  peerPort: number,
  timeoutMs = 60_000,
): Promise<{ id: string; initialCluster: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const existing = (await listMembers(client)).find((m) => m.peerUrls.includes(peerUrl(peerPort)));
      const added = existing
        ? { id: existing.id, members: await listMembers(client) }
        : await client.cluster
            .memberAdd({ peerURLs: [peerUrl(peerPort)], isLearner: true })
            .then(async (r) => ({ id: r.member.ID, members: await listMembers(client) }));
      const initialCluster = added.members
        .map((m) => `${m.id === added.id || !m.name ? name : m.name}=${m.peerUrls[0]}`)
        .join(',');
      return { id: added.id, initialCluster };
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

/** Promotes once the learner is in sync ("can only promote a learner member which is in sync with leader"). */
export async function promoteWhenInSync(client: Etcd3, id: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.cluster.memberPromote({ ID: id });
      return;
    } catch (err) {
      const message = (err as Error).message;
      if (/not a learner/.test(message)) return;
      if (Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}

/** One started voting member per name and a leader everyone agrees on. */
export async function clusterHealthy(endpoints: string[], tls: EtcdTls): Promise<boolean> {
  const leaders = new Set<string>();
  for (const endpoint of endpoints) {
    const client = etcdClient([endpoint], tls, 3000);
    try {
      const status = await client.maintenance.status();
      if (status.leader === '0') return false;
      leaders.add(status.leader);
    } catch {
      return false;
    } finally {
      client.close();
    }
  }
  return leaders.size === 1;
}
