import assert from 'node:assert/strict';
import { coreDnsVersionFor } from '../../../src/domain/addons/coredns-versions.ts';
import {
  coreDnsImage,
  kubeProxyImage,
  kubernetesImageTag,
  parseAddonImageConfig,
  splitImage,
} from '../../../src/domain/addons/images.ts';

const config = (extra: string) =>
  parseAddonImageConfig(
    `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.3\n${extra}`,
  );

describe('addon images (kubeadm images.go)', () => {
  const cases = [
    {
      name: 'the default registry puts CoreDNS under coredns/coredns',
      extra: '',
      proxy: 'registry.k8s.io/kube-proxy:v1.37.2',
      dns: 'registry.k8s.io/coredns/coredns:v1.14.6',
    },
    {
      name: 'a custom imageRepository holds both, CoreDNS without the extra path',
      extra: 'imageRepository: mirror.example.com:5000/k8s\n',
      proxy: 'mirror.example.com:5000/k8s/kube-proxy:v1.37.2',
      dns: 'mirror.example.com:5000/k8s/coredns:v1.14.6',
    },
    {
      name: 'dns.imageRepository and dns.imageTag override CoreDNS only',
      extra:
        'imageRepository: mirror.example.com\ndns:\n  imageRepository: dns.example.com/team\n  imageTag: v1.14.2-custom\n',
      proxy: 'mirror.example.com/kube-proxy:v1.37.2',
      dns: 'dns.example.com/team/coredns:v1.14.2-custom',
    },
    {
      name: 'dns.imageRepository set to the default registry still gets the coredns/ path',
      extra: 'imageRepository: mirror.example.com\ndns:\n  imageRepository: registry.k8s.io\n',
      proxy: 'mirror.example.com/kube-proxy:v1.37.2',
      dns: 'registry.k8s.io/coredns/coredns:v1.14.6',
    },
    {
      name: 'an empty imageRepository takes the default',
      extra: 'imageRepository: ""\n',
      proxy: 'registry.k8s.io/kube-proxy:v1.37.2',
      dns: 'registry.k8s.io/coredns/coredns:v1.14.6',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const cfg = config(c.extra);
      assert.equal(kubeProxyImage(cfg, 'v1.37.2'), c.proxy);
      assert.equal(coreDnsImage(cfg, 'v1.14.6'), c.dns);
    });
  }

  it('turns characters an image tag cannot hold into _, as KubernetesVersionToImageTag', () => {
    assert.equal(kubernetesImageTag('v1.37.2+k3s1'), 'v1.37.2_k3s1');
    assert.equal(kubernetesImageTag('v1.38.0-rc.1'), 'v1.38.0-rc.1');
  });

  it('reads dns.disabled and proxy.disabled (v1beta4)', () => {
    const cfg = config('dns:\n  disabled: true\nproxy:\n  disabled: true\n');
    assert.equal(cfg.dns.disabled, true);
    assert.equal(cfg.proxy.disabled, true);
    assert.equal(config('').dns.disabled, false);
  });

  it('splits an image into name and tag, registry ports and digests included', () => {
    assert.deepEqual(splitImage('registry.k8s.io/coredns/coredns:v1.14.2'), {
      name: 'registry.k8s.io/coredns/coredns',
      tag: 'v1.14.2',
    });
    assert.deepEqual(splitImage('mirror:5000/kube-proxy:v1.36.3@sha256:abc'), {
      name: 'mirror:5000/kube-proxy',
      tag: 'v1.36.3',
    });
    assert.deepEqual(splitImage('mirror:5000/kube-proxy'), { name: 'mirror:5000/kube-proxy' });
  });

  it('knows the CoreDNS version of a kubeadm minor, and says so when it does not', () => {
    assert.equal(coreDnsVersionFor('v1.36.3'), 'v1.14.2');
    assert.equal(coreDnsVersionFor('v1.37.0-rc.1'), 'v1.14.6');
    assert.equal(coreDnsVersionFor('v1.99.0'), undefined);
  });
});
