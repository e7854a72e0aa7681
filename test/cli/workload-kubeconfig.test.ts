import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeStaleWorkloadKubeconfigs } from '../../src/cli/commands/wiring.ts';

describe('workload kubeconfig folders', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'wk-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const folder = (pid: number, withFile = true) => {
    const f = path.join(dir, `kubeswap-${pid}-Ab12Cd`);
    mkdirSync(f);
    if (withFile) writeFileSync(path.join(f, 'workload.kubeconfig'), 'secret', { mode: 0o600 });
    return f;
  };

  it('removes the folder a killed run left, keeps those of live processes and anything not ours', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = folder(dead);
    const live = folder(process.ppid);
    const own = folder(process.pid);
    const other = folder(dead + 1_000_000, false);
    assert.deepEqual(removeStaleWorkloadKubeconfigs(dir), [stale]);
    assert.ok(!existsSync(stale));
    for (const kept of [live, own, other]) assert.ok(existsSync(kept), kept);
  });
});
