// The sandbox must come up with 1 and 5 control-plane machines too (3 is covered by topology.test.ts).
import assert from 'node:assert/strict';
import { type Sandbox, upSandbox } from './index.ts';

for (const size of [1, 5]) {
  describe(`sandbox with ${size} control-plane machine(s)`, function () {
    this.timeout(600_000);
    let sb: Sandbox;

    before(async () => {
      sb = await upSandbox({ controlPlanes: size, workers: 1, ownerPid: process.pid });
    });
    after(async () => {
      await sb?.down();
    });

    it(`has ${size} started voting members, ${size} Ready control-plane Nodes and a Ready worker`, async () => {
      const members = (await sb.etcdctl(['member', 'list'])).trim().split('\n');
      assert.equal(members.length, size);
      assert.ok(members.every((line) => line.includes(', started, ') && line.endsWith(', false')));
      const nodes = JSON.parse(await sb.kubectl(['get', 'nodes', '-o', 'json'])).items;
      const ready = (n: any) => n.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True');
      const controlPlanes = nodes.filter((n: any) => 'node-role.kubernetes.io/control-plane' in n.metadata.labels);
      assert.equal(controlPlanes.filter(ready).length, size);
      assert.equal(nodes.filter(ready).length, size + 1);
      assert.equal(sb.workers.length, 1);
    });
  });
}
