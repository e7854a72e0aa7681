// TLS to an etcd member addressed by IP (kubeadm's https://10.0.1.10:2379) without Node's DEP0123 warning.
// grpc-js sends the dialled host as the TLS server name, and an IP there is not allowed by RFC 6066
// ("Setting the TLS ServerName to an IP address"), so every run printed a deprecation warning. Here the
// channel names the server `etcd` (etcd ignores SNI) and the certificate is still checked against the IP
// dialled, as Node checks it by default: the same verification, without the IP in the server name.

import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import { Channel, type ChannelCredentials, type ChannelOptions, credentials } from '@grpc/grpc-js';
import type { EtcdTls } from '../../ports/etcd.ts';

const SERVER_NAME = 'etcd';

/** etcd3 `grpcOptions` for one endpoint: undefined where grpc-js's own behaviour is right (DNS names). */
export function ipEndpointChannel(endpoint: string, tls: EtcdTls): ChannelOptions | undefined {
  return isIP(hostOf(new URL(endpoint).host)) ? ipAwareChannels(tls) : undefined;
}

/**
 * etcd3 `grpcOptions` for a client over several endpoints (etcd3 hands the same options to every host): each
 * channel to an IP gets the fixed server name and the IP check, a channel to a DNS name is grpc-js's own.
 */
export function ipAwareChannels(tls: EtcdTls): ChannelOptions {
  // grpc-js passes the dialled host:port (etcd3 strips the scheme) and the credentials etcd3 built.
  const channelFactoryOverride = (address: string, given: ChannelCredentials, options: ChannelOptions) => {
    const host = hostOf(address);
    if (!isIP(host)) return new Channel(address, given, options);
    const secure = credentials.createSsl(tls.ca, tls.key, tls.cert, {
      // grpc-js passes SERVER_NAME here (the override); the certificate must name the IP we dialled.
      checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
    });
    return new Channel(address, secure, { ...options, 'grpc.ssl_target_name_override': SERVER_NAME });
  };
  // etcd3 hands the same options object to each service client it makes for the host, and grpc-js deletes
  // channelFactoryOverride from it on first use: keep it for the next services (KV, Cluster, Maintenance).
  return new Proxy({ channelFactoryOverride } as ChannelOptions, { deleteProperty: () => true });
}

/** The host of `host:port` (URL.host or grpc-js's address), without the brackets of an IPv6 literal. */
function hostOf(hostPort: string): string {
  const bracketed = /^\[(.*)\](?::\d+)?$/.exec(hostPort);
  if (bracketed) return bracketed[1]!;
  return hostPort.replace(/:\d+$/, '');
}
