import assert from 'node:assert/strict';
import type { EtcdAlarm, EtcdEndpointHealth } from '../../../src/domain/model.ts';
import { observe } from '../../../src/engine/observe/observe.ts';
import { FakeWorld } from '../fake-world.ts';

describe('observe: etcd alarms from the health check', () => {
  it('takes the alarms the health check listed, without a second AlarmList; asks only when no endpoint listed them', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const nospace: EtcdAlarm = { memberId: 'm1', alarm: 'NOSPACE' };
    let alarmCalls = 0;
    let listed: EtcdAlarm[] | undefined = [nospace];
    const health = ports.etcd.health.bind(ports.etcd);
    ports.etcd = {
      ...ports.etcd,
      health: async (endpoints: string[]) =>
        (await health(endpoints)).map((h: EtcdEndpointHealth, i) => (i === 0 && listed ? { ...h, alarms: listed } : h)),
      alarms: async () => {
        alarmCalls++;
        return [];
      },
    };
    const first = await observe(ports, { withTargets: false });
    assert.deepEqual(first.etcd.alarms, [nospace]);
    assert.equal(alarmCalls, 0);
    listed = undefined;
    const second = await observe(ports, { withTargets: false });
    assert.deepEqual(second.etcd.alarms, []);
    assert.equal(alarmCalls, 1);
  });
});
