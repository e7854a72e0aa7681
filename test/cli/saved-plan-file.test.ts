import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { planConflicts, readSavedPlan, writeSavedPlan } from '../../src/cli/commands/plan-file.ts';
import { gitCheckoutOf, snapshotDirFor } from '../../src/cli/commands/wiring.ts';
import { flattenFile, planSettings, resolveSettings, savedPlanLayer } from '../../src/cli/config/settings.ts';
import { main } from '../../src/cli/main.ts';
import { PLAN_FORMAT, PLAN_FORMAT_VERSION, type SavedPlan } from '../../src/engine/run/saved-plan.ts';
import { io } from './fake-io.ts';

const plan = (settings: Record<string, unknown>): SavedPlan => ({
  format: PLAN_FORMAT,
  formatVersion: PLAN_FORMAT_VERSION,
  createdAt: '2026-06-01T00:00:00.000Z',
  kubeswapVersion: '0.1.0',
  from: 'v1.36.3',
  desired: { version: 'v1.37.2', imageId: 'ami-1', force: false },
  machines: [{ node: 'cp-a', machine: 'i-a', reasons: ['image ami-0 -> ami-1'] }],
  upToDate: [],
  changes: { objects: [], loadBalancer: 'x', machines: 1, maxSurge: 1 },
  settings,
  fingerprint: { kubeadmConfig: 'abc', machines: ['cp-a=i-a'], imageId: 'ami-1' },
});

describe('saved plan file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-plan-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written 0600 (also over a wider file) and read back as written', () => {
    const file = path.join(dir, 'plan.json');
    writeFileSync(file, 'old', { mode: 0o644 });
    const saved = plan({ to: 'v1.37.2', maxSurge: 1 });
    writeSavedPlan(file, saved);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readSavedPlan(file), saved);
  });

  it('keeps the settings that shape the run, never a secret, a consent or a local path', () => {
    const file = flattenFile({
      kubeconfig: '/home/me/.kube/config',
      to: 'v1.37.2',
      yes: true,
      snapshotDir: '/home/me/snaps',
      provider: { name: 'aws-ec2', launchTemplate: 'lt-1', targetGroupArn: 'arn:tg', userData: 'render' },
    });
    const { merged } = resolveSettings('apply', [
      file,
      { certificateKey: 'a'.repeat(64), pkiDir: '/home/me/pki', maxSurge: 0, machineTimeout: '30m' },
    ]);
    const kept = planSettings(merged);
    assert.equal(kept['to'], 'v1.37.2');
    assert.equal(kept['maxSurge'], 0);
    assert.equal(kept['machineTimeout'], '30m');
    assert.equal(kept['launchTemplate'], 'lt-1');
    assert.equal(kept['targetGroupArn'], 'arn:tg');
    assert.equal(kept['drainTimeout'], '10m', 'defaults too: a later default does not change a reviewed plan');
    for (const key of ['certificateKey', 'pkiDir', 'kubeconfig', 'yes', 'snapshotDir', 'etcdCa'])
      assert.ok(!(key in kept), key);
    assert.doesNotMatch(JSON.stringify(kept), /aaaaaaaa/);
  });

  it('sits above the config file and the environment when applied, and a contradicting flag is refused', () => {
    const saved = plan({ to: 'v1.37.2', maxSurge: 0, launchTemplate: 'lt-1' });
    const { settings } = resolveSettings('apply', [
      { launchTemplate: 'lt-file', maxSurge: 1 },
      savedPlanLayer(saved.settings, 'plan.json'),
    ]);
    assert.equal(settings.maxSurge, 0);
    assert.equal(settings.provider['launchTemplate'], 'lt-1');
    assert.deepEqual(planConflicts(saved, { maxSurge: 0 }, 'plan.json'), []);
    const conflicts = planConflicts(saved, { maxSurge: 1, image: 'ami-2', yes: true }, 'plan.json');
    assert.deepEqual(
      conflicts.map((p) => p.message),
      [
        'maxSurge 1 differs from the saved plan plan.json (0)',
        'image "ami-2" differs from the saved plan plan.json (null)',
      ],
    );
  });

  it('apply FILE of another format version exits 2 before contacting anything', async () => {
    const file = path.join(dir, 'plan.json');
    writeFileSync(file, JSON.stringify({ ...plan({}), formatVersion: 99 }));
    const t = io();
    assert.equal(await main(['apply', file, '--launch-template', 'lt-1'], t), 2);
    assert.match(t.err.join(''), /format version 99; this kubeswap reads version 1/);
    const missing = io();
    assert.equal(await main(['apply', path.join(dir, 'nope.json')], missing), 2);
    assert.match(missing.err.join(''), /saved plan .*nope.json does not exist/);
  });
});

describe('safe defaults', () => {
  it('puts the etcd snapshot under ~/.kubeswap/snapshots/<cluster> unless a folder is given', () => {
    const { settings } = resolveSettings('apply', [{ to: 'v1.37.2', launchTemplate: 'lt', clusterName: 'prod/eu' }]);
    assert.equal(snapshotDirFor(settings, '/home/me'), '/home/me/.kubeswap/snapshots/prod_eu');
    assert.equal(snapshotDirFor({ ...settings, snapshotDir: '/srv/snaps' }, '/home/me'), '/srv/snaps');
  });

  it('tells a folder inside a git checkout', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-git-'));
    try {
      mkdirSync(path.join(dir, '.git'));
      mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
      assert.equal(gitCheckoutOf(path.join(dir, 'a', 'b')), dir);
      assert.equal(gitCheckoutOf(path.join(dir, 'a', 'b', 'not-yet-created')), dir);
      assert.equal(gitCheckoutOf(tmpdir()), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the load-balancer opt-out and the deregistration and termination timeouts as settings', () => {
    const { settings, problems } = resolveSettings('apply', [
      {
        to: 'v1.37.2',
        launchTemplate: 'lt',
        loadBalancer: false,
        deregistrationTimeout: '2m',
        terminationTimeout: '1h',
      },
    ]);
    assert.deepEqual(problems, []);
    assert.equal(settings.loadBalancer, false);
    assert.equal(settings.deregistrationTimeoutMs, 120_000);
    assert.equal(settings.terminationTimeoutMs, 3_600_000);
    assert.equal(resolveSettings('apply', [{ to: 'v1.37.2', launchTemplate: 'lt' }]).settings.loadBalancer, true);
  });

  it('reads --no-load-balancer from the command line and KUBESWAP_LOAD_BALANCER=false from the environment', async () => {
    const t = io();
    // Refused for another reason (no kubeconfig) after parsing: the flag itself is known.
    await main(
      ['plan', '--to', 'v1.37.2', '--launch-template', 'lt', '--no-load-balancer', '--kubeconfig', '/nope'],
      t,
    );
    assert.doesNotMatch(t.err.join(''), /Unknown argument/);
  });

  it('takes image owners as a list or comma-separated, refusing what is not an account', () => {
    const ok = resolveSettings('apply', [{ to: 'v1.37.2', launchTemplate: 'lt', imageOwners: '111122223333, self' }]);
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.settings.provider['imageOwners'], ['111122223333', 'self']);
    const bad = resolveSettings('apply', [{ to: 'v1.37.2', launchTemplate: 'lt', imageOwners: 'bob' }]);
    assert.deepEqual(
      bad.problems.map((p) => p.code),
      ['input.image-owners'],
    );
  });
});
