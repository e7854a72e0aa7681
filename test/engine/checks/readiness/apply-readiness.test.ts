import assert from 'node:assert/strict';
import { formatReadiness, markdownReadiness } from '../../../../src/cli/render/readiness.ts';
import type { ReadinessReport } from '../../../../src/domain/readiness/report.ts';
import { checkReadiness } from '../../../../src/engine/checks/readiness/run-readiness.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../../../src/engine/ports.ts';
import { apply, inspect } from '../../../../src/engine/run/run.ts';
import { NEW_IMAGE, TO } from '../../builders.ts';
import { FakeWorld, failure } from '../../fake-world.ts';
import { cert, FakeReadiness, metricLine } from './fake-readiness.ts';

const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, snapshotDir: '/tmp' };

function worldWithRemovedApis() {
  const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
  const readiness = new FakeReadiness();
  readiness.metrics['cp-a'] = metricLine('networking.k8s.io', 'v1beta1', 'servicecidrs', '1.37');
  readiness.stored.objects.push({
    apiVersion: 'extensions/v1beta1',
    kind: 'Deployment',
    name: 'web',
    namespace: 'shop',
    via: 'last-applied',
    owner: 'Deployment shop/web (last-applied)',
  });
  return { world, readiness, ports: { ...world.ports(), readiness } };
}

describe('readiness: apply', () => {
  it('refuses (blocked, exit 2) naming each object and client API the target removed, before any change', async () => {
    const { world, ports } = worldWithRemovedApis();
    const err = await failure(apply(ports, { version: TO, force: false }, options));
    assert.deepEqual([err.failure, err.code], ['blocked', 'readiness.blocked']);
    assert.match(
      err.message,
      /clients of apiserver cp-a: networking\.k8s\.io\/v1beta1 ServiceCIDR is removed in 1\.37/,
    );
    assert.match(err.message, /Deployment shop\/web \(last-applied\): extensions\/v1beta1 Deployment is removed/);
    assert.match(err.hint ?? '', /--accept-removed-apis/);
    assert.equal(err.problems.length, 2);
    assert.deepEqual(world.calls, [], 'nothing changed');
    assert.ok(world.log.codes().includes('readiness.checked'));
  });

  it('proceeds past the check with --accept-removed-apis (dry run: stops right after it)', async () => {
    const { world, ports } = worldWithRemovedApis();
    const outcome = await apply(
      ports,
      { version: TO, force: false, readiness: { acceptRemovedApis: true, certWarningDays: 30 } },
      { ...options, dryRun: true },
    );
    assert.equal(outcome.result, 'dry-run');
    assert.deepEqual(world.calls, []);
  });

  it('blocks on a certificate that expires within the run, whatever --accept-removed-apis says', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const readiness = new FakeReadiness();
    readiness.certs['clusterCa'] = cert(0.5, 'CN=kubernetes');
    const ports = { ...world.ports(), readiness };
    // 3 machines x (20m + 10m) = 90 min < 12 h left: a warning only.
    await apply(ports, { version: TO, force: false }, { ...options, dryRun: true });
    const err = await failure(
      apply(
        ports,
        { version: TO, force: false, readiness: { acceptRemovedApis: true, certWarningDays: 30 } },
        { ...options, dryRun: true, machineTimeoutMs: 5 * 3_600_000 },
      ),
    );
    assert.match(err.message, /cluster CA .* within the run/);
  });

  it('a resumed run (its progress record is there) reports without scanning for removed APIs again', async () => {
    const { world, readiness, ports } = worldWithRemovedApis();
    const record = {
      runId: 'run-earlier',
      version: TO,
      imageId: NEW_IMAGE,
      state: 'running',
      startedAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      last: 'started',
      machines: {},
    };
    world.configMaps.set('kube-system/kubeswap-progress', {
      namespace: 'kube-system',
      name: 'kubeswap-progress',
      data: { progress: JSON.stringify(record) },
      labels: {},
      annotations: {},
      resourceVersion: '1',
    });
    const outcome = await apply(ports, { version: TO, force: false }, { ...options, dryRun: true });
    assert.equal(outcome.result, 'dry-run');
    assert.ok(!readiness.calls.some((c) => c.startsWith('stored') || c.startsWith('metrics')), readiness.calls.join());
    const checked = world.log.events.find((e) => e.code === 'readiness.checked');
    const report = checked?.data?.['report'] as ReadinessReport;
    assert.ok(report.findings.some((f) => f.code === 'api.resumed' && /run-earlier/.test(f.message)));
    assert.ok(report.certificates.length > 0, 'certificates are still read');
  });

  it('renders the report as text and Markdown naming each blocker', async () => {
    const { world, ports } = worldWithRemovedApis();
    const report = await inspect(ports, { version: TO, force: false });
    const readiness: ReadinessReport = await checkReadiness(
      ports,
      {
        target: report.desired.version,
        replaced: report.candidates.map((c) => c.cp.name),
        machineTimeoutMs: 1,
        drainTimeoutMs: 1,
      },
      { acceptRemovedApis: false, certWarningDays: 30 },
    );
    const text = formatReadiness(readiness);
    assert.match(text, /2 blocker\(s\)/);
    assert.match(text, /BLOCK +extensions\/v1beta1 Deployment +removed in 1\.16 +Deployment shop\/web/);
    assert.match(text, /kube-apiserver +cp-a +v1\.36\.3 -> v1\.37\.\d/);
    assert.match(text, /Blockers \(apply refuses, exit 2\)/);
    const markdown = markdownReadiness(world.log.events);
    assert.match(markdown, /## Readiness for v1\.37/);
    assert.match(
      markdown,
      /\| ⛔ block \| networking\.k8s\.io\/v1beta1 ServiceCIDR \| 1\.37 \| clients of apiserver cp-a \| metric/,
    );
    assert.match(markdown, /### Certificates/);
  });
});
