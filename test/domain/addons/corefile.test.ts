import assert from 'node:assert/strict';
import { checkCorefile, parseCorefile } from '../../../src/domain/addons/corefile.ts';
import { KUBEADM_COREFILE } from './fixtures.ts';

describe('Corefile migration check (corefile-migration rules)', () => {
  it('parses server blocks, plugins with arguments and options, comments and quotes', () => {
    const servers = parseCorefile(
      `# top\nexample.org:53 {\n  hosts "/etc/my hosts" {\n    10.0.0.1 a.example.org # note\n  }\n}\n`,
    );
    assert.deepEqual(servers, [
      {
        zones: ['example.org:53'],
        plugins: [{ name: 'hosts', args: ['/etc/my hosts'], options: [{ name: '10.0.0.1', args: ['a.example.org'] }] }],
      },
    ]);
  });

  it("keeps kubeadm's default Corefile from 1.14.2 to 1.14.6 and from 1.9.4 to 1.14.6", () => {
    assert.deepEqual(checkCorefile('v1.14.2', 'v1.14.6', KUBEADM_COREFILE), { migratable: true, notices: [] });
    assert.equal(checkCorefile('1.9.4', '1.14.6', KUBEADM_COREFILE).migratable, true);
  });

  it('walks every release in between, as the rules do: cache disable is unknown before 1.9.4', () => {
    const check = checkCorefile('1.8.4', '1.14.6', KUBEADM_COREFILE);
    assert.equal(check.migratable, false);
    assert.match(
      check.migratable ? '' : check.reason,
      /option "disable" of plugin "cache" is unsupported by the migration rules in CoreDNS 1.8.5/,
    );
  });

  const blocked = [
    {
      name: 'a plugin the rules do not know (proxy, removed from CoreDNS long ago)',
      corefile: KUBEADM_COREFILE.replace('loop\n', 'loop\n    proxy . 8.8.8.8\n'),
      reason: /plugin "proxy" is unsupported/,
    },
    {
      name: 'an option the rules do not know',
      corefile: KUBEADM_COREFILE.replace('ttl 30', 'ttl 30\n       frobnicate yes'),
      reason: /option "frobnicate" of plugin "kubernetes"/,
    },
    {
      name: 'an unknown start version',
      corefile: KUBEADM_COREFILE,
      from: '1.14.2-custom',
      reason: /1\.14\.2-custom is not a release/,
    },
    { name: 'a downgrade', corefile: KUBEADM_COREFILE, from: '1.14.6', to: '1.14.2', reason: /downgrade/ },
  ];
  for (const c of blocked) {
    it(`refuses ${c.name}`, () => {
      const check = checkCorefile(c.from ?? '1.14.2', c.to ?? '1.14.6', c.corefile);
      assert.equal(check.migratable, false);
      assert.match(check.migratable ? '' : check.reason, c.reason);
    });
  }

  it('refuses forward fail_fast past 1.11.4, where the rules stop knowing it', () => {
    const corefile = '.:53 {\n  forward . 1.1.1.1 {\n    fail_fast\n  }\n}\n';
    assert.equal(checkCorefile('1.11.3', '1.11.4', corefile).migratable, true);
    assert.equal(checkCorefile('1.11.4', '1.12.0', corefile).migratable, false);
  });

  it('reports an ignored option without refusing', () => {
    const corefile = '.:53 {\n  kubernetes cluster.local {\n    endpoint https://a https://b\n  }\n}\n';
    const check = checkCorefile('1.14.2', '1.14.6', corefile);
    assert.equal(check.migratable, true);
    assert.deepEqual(check.notices, [
      { plugin: 'kubernetes', option: 'endpoint', severity: 'ignored', version: '1.14.3' },
    ]);
  });

  it('accepts hosts entries matched by the IP patterns', () => {
    const corefile = '.:53 {\n  hosts {\n    10.1.2.3 a.example\n    fd00::1:2 b.example\n    fallthrough\n  }\n}\n';
    assert.equal(checkCorefile('1.12.0', '1.14.6', corefile).migratable, true);
  });
});
