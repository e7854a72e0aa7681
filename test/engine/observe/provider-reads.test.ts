import assert from 'node:assert/strict';
import type { ApiTarget, Machine } from '../../../src/domain/model.ts';
import { ProviderReads } from '../../../src/engine/observe/provider-reads.ts';
import { machine } from '../builders.ts';

const ids = ['aws:///a', 'aws:///b'];
const serving = (m: Machine): ApiTarget => ({ machineId: m.id, state: 'serving' });

describe('ProviderReads: the provider view between passes', () => {
  const running = [machine('cp-a'), machine('cp-b')];
  const cases: {
    name: string;
    machines: Machine[];
    targets?: ApiTarget[];
    askedAt: number;
    askedFor?: string[];
    forget?: boolean;
    reused: boolean;
  }[] = [
    {
      name: 'reuses a stable view of the same Nodes',
      machines: running,
      targets: running.map(serving),
      askedAt: 14_999,
      reused: true,
    },
    { name: 'reads again once the slow interval passed', machines: running, askedAt: 15_000, reused: false },
    {
      name: 'reads again when the control-plane Nodes changed',
      machines: running,
      askedAt: 1,
      askedFor: ['aws:///a'],
      reused: false,
    },
    {
      name: 'reads again while a machine is provisioning',
      machines: [...running, machine('r-cp-a', { phase: 'provisioning' })],
      askedAt: 1,
      reused: false,
    },
    {
      name: 'reads again while a machine is being deleted',
      machines: [machine('cp-a', { phase: 'deleting' })],
      askedAt: 1,
      reused: false,
    },
    {
      name: 'reads again while a target registers',
      machines: running,
      targets: [{ machineId: 'i-cp-a', state: 'registering' }],
      askedAt: 1,
      reused: false,
    },
    {
      name: 'reads again while a target drains',
      machines: running,
      targets: [{ machineId: 'i-cp-a', state: 'draining' }],
      askedAt: 1,
      reused: false,
    },
    { name: 'reads again after a step of ours', machines: running, askedAt: 1, forget: true, reused: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const reads = new ProviderReads(15_000);
      reads.remember(0, ids, { machines: c.machines, apiTargets: c.targets });
      if (c.forget) reads.forget();
      const view = reads.reusable(c.askedAt, c.askedFor ?? ids);
      assert.equal(view !== undefined, c.reused);
      if (view) assert.deepEqual(view, { machines: c.machines, apiTargets: c.targets });
    });
  }
});
