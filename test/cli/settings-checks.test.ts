import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readEnvironment, resolveSettings } from '../../src/cli/config/settings.ts';

const base = { launchTemplate: 'lt-1', to: 'v1.37.2' };
const codes = (layer: Record<string, unknown>, command: 'plan' | 'apply' | 'status' = 'apply') =>
  resolveSettings(command, [{ ...base, ...layer }]).problems.map((p) => p.code);
const messages = (layer: Record<string, unknown>) =>
  resolveSettings('apply', [{ ...base, ...layer }]).problems.map((p) => p.message);

describe('settings checks before anything is contacted', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-settings-'));
    writeFileSync(path.join(dir, 'a-file'), 'x');
    writeFileSync(path.join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses zero and negative durations, naming the flag', () => {
    assert.deepEqual(messages({ machineTimeout: '0', drainTimeout: '-5m', pollInterval: '0s' }), [
      '--machine-timeout must be more than 0, got 0',
      '--drain-timeout must be more than 0, got -5m',
      '--poll-interval must be more than 0, got 0s',
    ]);
  });

  it('accepts Go durations such as 1h30m and 5m0s', () => {
    const { settings, problems } = resolveSettings('apply', [
      { ...base, machineTimeout: '1h30m', drainTimeout: '5m0s' },
    ]);
    assert.deepEqual(problems, []);
    assert.equal(settings.machineTimeoutMs, 5_400_000);
    assert.equal(settings.drainTimeoutMs, 300_000);
  });

  it('refuses a --snapshot-dir that is an existing file, accepts one still to create', () => {
    assert.deepEqual(codes({ snapshotDir: path.join(dir, 'a-file') }), ['input.not-a-directory']);
    assert.deepEqual(codes({ snapshotDir: path.join(dir, 'new/snapshots') }), []);
  });

  it('refuses a --summary whose folder does not exist', () => {
    assert.deepEqual(codes({ summary: path.join(dir, 'missing/summary.md') }, 'status'), ['input.parent-missing']);
    assert.deepEqual(codes({ summary: path.join(dir, 'summary.md') }, 'status'), []);
  });

  it('checks render-mode inputs with the other settings', () => {
    const render = { userData: 'render', certificates: 'image' };
    assert.deepEqual(codes({ ...render, certificateKey: 'abc' }), ['input.certificate-key']);
    assert.deepEqual(codes({ ...render, certificateKey: 'ab'.repeat(32) }), []);
    assert.deepEqual(codes({ ...render, tokenTtl: '30s' }), ['input.duration']);
    assert.deepEqual(codes({ ...render, pkiDir: path.join(dir, 'nope') }), ['input.file-missing']);
    assert.deepEqual(codes({ ...render, pkiDir: path.join(dir, 'a-file') }), ['input.not-a-directory']);
    assert.deepEqual(codes({ ...render, caCert: path.join(dir, 'a-file') }), ['input.ca-cert']);
    assert.deepEqual(codes({ ...render, caCert: path.join(dir, 'ca.crt') }), []);
    // Without a way to the shared certificates every control-plane join would fail: refused up front.
    assert.deepEqual(codes({ userData: 'render' }), ['input.certificates']);
  });

  it('refuses a pre-release --to unless --allow-prerelease', () => {
    assert.deepEqual(codes({ to: 'v1.38.0-rc.1' }), ['input.prerelease']);
    assert.deepEqual(codes({ to: 'v1.38.0-rc.1', allowPrerelease: true }), []);
    assert.deepEqual(codes({ to: 'v1.38.0-rc.1+build' }), ['input.version']);
  });

  it('checks worker pools with the other settings: both 0, no selector, an unknown --pools name, two scopes', () => {
    const workerPools = [
      { name: 'blue', maxSurge: '25%', maxUnavailable: 0, tag: 'pool=blue' },
      { name: 'green', maxSurge: 0, maxUnavailable: 0, launchTemplate: 'lt-2' },
      { name: 'red' },
    ];
    assert.deepEqual(messages({ workerPools, pools: 'blue,pink', controlPlaneOnly: true, workersOnly: true }), [
      'pool green: maxSurge and maxUnavailable cannot both be 0',
      'pool red: give a tag (Key=Value), a launchTemplate or an autoScalingGroup to say which machines are in it',
      '--pools names pink, which is not a configured pool (blue, green, red)',
      'give --control-plane-only or --workers-only, not both',
    ]);
    const { settings, problems } = resolveSettings('apply', [
      { ...base, workerPools: [workerPools[0]], pools: 'blue', poolInterval: '2m' },
    ]);
    assert.deepEqual(problems, []);
    assert.deepEqual(settings.pools, ['blue']);
    assert.equal(settings.poolIntervalMs, 120_000);
    assert.deepEqual(settings.provider['pools'], [{ name: 'blue', tag: 'pool=blue', launchTemplate: undefined }]);
  });

  it('counts a refused --to as given: one problem, not also "no target"', () => {
    assert.deepEqual(codes({ to: 'latest' }), ['input.version']);
  });
});

describe('provider settings', () => {
  it('takes a launch template version written as a YAML number', () => {
    const { settings, problems } = resolveSettings('plan', [{ ...base, launchTemplateVersion: 3 }]);
    assert.deepEqual(problems, []);
    assert.equal(settings.provider.launchTemplateVersion, '3');
    assert.deepEqual(codes({ launchTemplateVersion: 'latest' }), ['input.launch-template-version']);
  });
});

describe('the environment as a layer', () => {
  it('sits between the file and the flags, and is named in problems', () => {
    const env = readEnvironment('apply', { KUBESWAP_DRAIN_TIMEOUT: '7m', KUBESWAP_MAX_SURGE: '3' });
    const { settings, problems } = resolveSettings('apply', [{ ...base, drainTimeout: '1m', maxSurge: 0 }, env, {}]);
    assert.equal(settings.drainTimeoutMs, 420_000);
    assert.deepEqual(
      problems.map((p) => p.message),
      ['KUBESWAP_MAX_SURGE must be 0 or 1, got 3'],
    );
    const flags = resolveSettings('apply', [env, { ...base, drainTimeout: '2m', maxSurge: 1 }]);
    assert.equal(flags.settings.drainTimeoutMs, 120_000);
  });

  it('reads booleans and ignores variables meant for other commands', () => {
    const env = { KUBESWAP_YES: 'true', KUBESWAP_CERTIFICATE_KEY: 'x', KUBESWAP_UNRELATED: '1' };
    assert.deepEqual({ ...readEnvironment('apply', env) }, { yes: true, certificateKey: 'x' });
    assert.deepEqual({ ...readEnvironment('status', env) }, {});
    assert.deepEqual(resolveSettings('status', [readEnvironment('status', env)]).problems, []);
  });
});
