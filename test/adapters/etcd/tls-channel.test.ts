import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ipAwareChannels, ipEndpointChannel } from '../../../src/adapters/etcd/tls-channel.ts';
import type { EtcdTls } from '../../../src/ports/etcd.ts';

// A real CA certificate (kubeadm's, from the fixtures); no client certificate is needed to build the channel.
const tls = { ca: readFileSync(new URL('../../kubeadm/fixtures/ca.crt', import.meta.url)) } as unknown as EtcdTls;

describe('TLS channel for an etcd member addressed by IP', () => {
  it("leaves DNS names to grpc-js's own TLS server name", () => {
    assert.equal(ipEndpointChannel('https://etcd-0.example.internal:2379', tls), undefined);
  });

  for (const endpoint of ['https://10.0.1.10:2379', 'https://[fd00::10]:2379']) {
    it(`builds its own channel for ${endpoint}, kept for every service etcd3 makes`, () => {
      const options = ipEndpointChannel(endpoint, tls) as Record<string, unknown>;
      assert.equal(typeof options['channelFactoryOverride'], 'function');
      // grpc-js deletes the factory from the shared options on first use; etcd3 shares them per host.
      delete options['channelFactoryOverride'];
      assert.equal(typeof options['channelFactoryOverride'], 'function');
    });
  }

  it('keeps the factory for a client over several endpoints (the same options for every host)', () => {
    const options = ipAwareChannels(tls) as Record<string, unknown>;
    delete options['channelFactoryOverride'];
    assert.equal(typeof options['channelFactoryOverride'], 'function');
  });
});
