import assert from 'node:assert/strict';
import { observeVersions } from '../../../../src/engine/checks/readiness/readiness.ts';
import { node } from '../../builders.ts';
import { FakeReadiness } from './fake-readiness.ts';

describe('readiness: versions of the Nodes that exist', () => {
  // cp-b's machine is gone and its Node deleted; its mirror pods wait for pod GC's 40 s quarantine.
  const world = () => {
    const readiness = new FakeReadiness();
    readiness.versions = { 'cp-a': 'v1.37.2', 'cp-b': new Error('connect ECONNREFUSED 10.0.0.2:6443') };
    readiness.staticPods = [
      { node: 'cp-a', component: 'kube-scheduler', version: 'v1.37.2' },
      { node: 'cp-b', component: 'kube-scheduler', version: 'v1.36.3' },
    ];
    return readiness;
  };
  const options = { target: 'v1.37.2', nodes: [node('cp-a')], replaced: [] };
  const wheres = (rows: { component: string; where: string }[], component: string) =>
    rows.filter((r) => r.component === component).map((r) => r.where);

  it('leaves out the mirror pods and apiserver of a deleted Node when asked (the verification), never reading it', async () => {
    const readiness = world();
    const asked: string[] = [];
    const answer = readiness.apiserverVersion.bind(readiness);
    readiness.apiserverVersion = (e) => {
      asked.push(e.node);
      return answer(e);
    };
    const { components } = await observeVersions(readiness, { ...options, presentNodesOnly: true }, () => {});
    assert.deepEqual(wheres(components, 'kube-apiserver'), ['cp-a']);
    assert.deepEqual(wheres(components, 'kube-scheduler'), ['cp-a']);
    assert.deepEqual(asked, ['cp-a'], 'no request to the gone apiserver (on AWS: a timeout per pass)');
  });

  it('keeps them otherwise (the readiness report shows every mirror pod)', async () => {
    const { components } = await observeVersions(world(), options, () => {});
    assert.deepEqual(wheres(components, 'kube-apiserver'), ['cp-a', 'cp-b']);
    assert.deepEqual(wheres(components, 'kube-scheduler'), ['cp-a', 'cp-b']);
  });
});
