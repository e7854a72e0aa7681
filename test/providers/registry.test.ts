import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkModule, checkProvider, loadProvider } from '../../providers/index.ts';
import type { KubeswapError } from '../../src/domain/errors.ts';
import { PROVIDER_CONTRACT_VERSION } from '../../src/ports/machines.ts';
import { FakeWorld } from '../engine/fake-world.ts';

const context = { settings: {}, pollIntervalMs: 1000, env: {} };

describe('provider registry', () => {
  it('names the known providers for an unknown name', async () => {
    await assert.rejects(loadProvider('aws-ec3', context), (err: KubeswapError) => {
      assert.equal(err.code, 'provider.unknown');
      assert.equal(err.failure, 'invalid');
      assert.match(err.hint ?? '', /aws-ec2/);
      return true;
    });
  });

  it('refuses a module built for another contract version', () => {
    assert.throws(
      () => checkModule({ contractVersion: 1, name: 'old', create: () => new FakeWorld(['a']).provider }, 'old'),
      (err: KubeswapError) => err.code === 'provider.contract-mismatch' && /contract 1/.test(err.message),
    );
  });

  it('names every method a provider lacks', () => {
    const { drift: _drift, machineIdOf: _link, ...partial } = new FakeWorld(['a']).provider;
    assert.throws(
      () => checkProvider(partial, 'half'),
      (err: KubeswapError) => /lacks machineIdOf, drift/.test(err.message),
    );
  });

  it('refuses a provider that drains on delete without startDeletion', () => {
    const fake = new FakeWorld(['a']).provider;
    const drains = { ...fake, capabilities: { ...fake.capabilities, drainsOnDelete: true } };
    assert.throws(
      () => checkProvider(drains, 'drains'),
      (err: KubeswapError) => err.code === 'provider.contract-mismatch' && /lacks startDeletion/.test(err.message),
    );
  });

  it('loads the built-in cluster-api provider through the same check, draining on delete', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-test-'));
    const kubeconfig = path.join(dir, 'mgmt');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: m, cluster: {server: "https://127.0.0.1:1"}}]\n' +
        'users: [{name: u, user: {token: t}}]\ncontexts: [{name: m, context: {cluster: m, user: u}}]\ncurrent-context: m\n',
    );
    try {
      const p = await loadProvider('cluster-api', {
        ...context,
        settings: { name: 'cluster-api', clusterName: 'c1', kubeconfig },
      });
      assert.equal(p.name, 'cluster-api');
      assert.deepEqual(p.capabilities, {
        surge: true,
        ownsLoadBalancer: true,
        rendersBootstrap: true,
        acceptsUserData: false,
        idempotencyKey: 'name',
        drainsOnDelete: true,
        rollsPools: true,
      });
      assert.equal(p.loadBalancer, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts a provider of this contract', () => {
    checkProvider(new FakeWorld(['a']).provider, 'fake');
    assert.equal(PROVIDER_CONTRACT_VERSION, 2);
  });

  it('loads the built-in aws-ec2 provider through the same check', async () => {
    const p = await loadProvider('aws-ec2', {
      ...context,
      settings: { region: 'us-east-1', launchTemplate: 'lt-1', clusterName: 'c' },
    });
    assert.equal(p.name, 'aws-ec2');
    assert.equal(p.capabilities.idempotencyKey, 'client-token');
    p.destroy?.();
  });

  it('loads the built-in aws-asg provider through the same check, with its run hooks', async () => {
    const p = await loadProvider('aws-asg', {
      ...context,
      settings: { region: 'us-east-1', autoScalingGroup: 'cp', clusterName: 'c' },
    });
    assert.equal(p.name, 'aws-asg');
    assert.equal(p.capabilities.idempotencyKey, 'tag');
    // The group launches from its launch template: the generic preflight refuses render mode from this.
    assert.equal(p.capabilities.acceptsUserData, false);
    assert.equal(typeof p.run?.begin, 'function');
    assert.equal(typeof p.run?.end, 'function');
    p.destroy?.();
  });

  it('refuses aws-asg settings without a group, naming it', async () => {
    await assert.rejects(
      loadProvider('aws-asg', { ...context, settings: { region: 'us-east-1', clusterName: 'c' } }),
      /autoScalingGroup/,
    );
  });
});
