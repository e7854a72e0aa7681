import assert from 'node:assert/strict';
import { flattenFile, resolveSettings } from '../../src/cli/config/settings.ts';

const base = { launchTemplate: 'lt-1' };

describe('settings', () => {
  it('layers defaults < file < env/flags', () => {
    const file = flattenFile({
      to: 'v1.37.1',
      drainTimeout: '5m',
      provider: { region: 'eu-west-1', launchTemplate: 'lt-file' },
    });
    const { settings, problems } = resolveSettings('apply', [file, { to: 'v1.37.2' }]);
    assert.deepEqual(problems, []);
    assert.equal(settings.to, 'v1.37.2');
    assert.equal(settings.drainTimeoutMs, 300_000);
    assert.equal(settings.machineTimeoutMs, 20 * 60_000);
    assert.equal(settings.provider.region, 'eu-west-1');
    assert.equal(settings.provider.launchTemplate, 'lt-file');
  });

  it('maps the grouped etcd and provider keys of a config file to flag names', () => {
    const flat = flattenFile({
      etcd: { endpoints: ['https://a:2379'], ca: 'ca.crt' },
      provider: { name: 'aws-ec2', endpoint: 'http://x' },
    });
    assert.deepEqual(flat, {
      etcdEndpoints: ['https://a:2379'],
      etcdCa: 'ca.crt',
      provider: 'aws-ec2',
      awsEndpoint: 'http://x',
    });
  });

  it('passes the exec provider section through whole, for the provider to validate', () => {
    const file = flattenFile({
      provider: { name: 'exec', command: ['/opt/machines', '--env', 'prod'], timeout: '2m', loadBalancer: true },
    });
    const { settings, problems } = resolveSettings('apply', [file, { to: 'v1.37.2' }]);
    assert.deepEqual(problems, []);
    assert.deepEqual(settings.provider, {
      name: 'exec',
      images: {},
      command: ['/opt/machines', '--env', 'prod'],
      timeout: '2m',
      loadBalancer: true,
    });
  });

  it('reports every problem at once', () => {
    const { problems } = resolveSettings('apply', [
      {
        to: '1.37',
        maxSurge: 2,
        gatePasses: 0,
        output: 'yaml',
        drainTimeout: 'soon',
        etcdEndpoints: 'a:2379',
        etcdCa: '/nope/ca.crt',
      },
    ]);
    const codes = problems.map((p) => p.code).sort();
    assert.deepEqual(codes, [
      'input.duration',
      'input.etcd-endpoint',
      'input.file-missing',
      'input.gate-passes',
      'input.launch-template',
      'input.max-surge',
      'input.output',
      'input.version',
    ]);
  });

  it('needs a target for plan and apply but not for status', () => {
    assert.ok(resolveSettings('apply', [base]).problems.some((p) => p.code === 'input.no-target'));
    assert.deepEqual(resolveSettings('status', [{}]).problems, []);
  });

  it('splits comma-separated etcd endpoints', () => {
    const { settings } = resolveSettings('plan', [
      { ...base, to: 'v1.37.2', etcdEndpoints: 'https://a:2379, https://b:2379' },
    ]);
    assert.deepEqual(settings.etcd.endpoints, ['https://a:2379', 'https://b:2379']);
  });

  it('reads render mode from the provider group of a config file', () => {
    const file = flattenFile({
      to: 'v1.37.2',
      tokenTtl: '2h',
      provider: { launchTemplate: 'lt-1', userData: 'render' },
      certificates: 'image',
    });
    const { settings, problems } = resolveSettings('apply', [file]);
    assert.deepEqual(problems, []);
    assert.equal(settings.userData, 'render');
    assert.equal(settings.render.tokenTtlMs, 2 * 3_600_000);
  });

  it('refuses certificate options outside render mode and both at once', () => {
    const { problems } = resolveSettings('apply', [
      { ...base, to: 'v1.37.2', certificateKey: 'ab'.repeat(32), pkiDir: '/' },
    ]);
    assert.deepEqual(
      problems.map((p) => p.message),
      [
        'give --certificate-key or --pki-dir, not both',
        '--certificate-key and --pki-dir only apply with --user-data render',
      ],
    );
  });
});
