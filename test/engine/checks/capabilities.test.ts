import assert from 'node:assert/strict';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/engine/ports.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, snapshotDir: '/tmp' };

describe('preflight: what the provider declares it cannot do', () => {
  it('refuses --max-surge 1 on a provider that cannot surge, before any change', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.provider = { ...world.provider, capabilities: { ...world.provider.capabilities, surge: false } };
    const err = await failure(apply(world.ports(), { version: TO, force: false, maxSurge: 1 }, options));
    assert.deepEqual([err.failure, err.code], ['invalid', 'provider.cannot-surge']);
    assert.match(err.hint ?? '', /--max-surge 0/);
    assert.equal(world.calls.length, 0);
  });

  it('refuses render mode on a provider that renders bootstrap data itself', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.provider = { ...world.provider, capabilities: { ...world.provider.capabilities, rendersBootstrap: true } };
    const err = await failure(apply(world.ports(), { version: TO, force: false, render: true }, options));
    assert.equal(err.code, 'provider.renders-bootstrap');
    assert.equal(world.calls.length, 0);
  });

  it('refuses render mode on a provider whose machines take no rendered user data, before any change', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.provider = { ...world.provider, capabilities: { ...world.provider.capabilities, acceptsUserData: false } };
    const err = await failure(apply(world.ports(), { version: TO, force: false, render: true }, options));
    assert.deepEqual([err.failure, err.code], ['invalid', 'provider.no-user-data']);
    assert.match(err.hint ?? '', /--user-data launch-template/);
    assert.equal(world.calls.length, 0);
    // Without render mode the same provider runs.
    const outcome = await apply(world.ports(), { version: TO, force: false }, options);
    assert.equal(outcome.result, 'done');
  });

  it('lets a provider that cannot surge run remove-first', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.provider = { ...world.provider, capabilities: { ...world.provider.capabilities, surge: false } };
    const outcome = await apply(world.ports(), { version: TO, force: false, maxSurge: 0 }, { ...options, maxSurge: 0 });
    assert.equal(outcome.result, 'done');
  });
});
