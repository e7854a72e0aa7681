import assert from 'node:assert/strict';
import { judgeApi, kindsToScan, verdictAt } from '../../../../src/domain/readiness/api-removals.ts';
import { checkApis } from '../../../../src/engine/checks/readiness/apis.ts';
import { FakeReadiness, metricLine } from './fake-readiness.ts';

describe('readiness: removed and deprecated APIs', () => {
  describe('the removal table', () => {
    it('judges an API removed at or before the target as removed, a later removal as deprecated', () => {
      assert.equal(verdictAt('1.37', 'v1.37.2'), 'removed');
      assert.equal(verdictAt('1.16', 'v1.37.2'), 'removed');
      assert.equal(verdictAt('1.38', 'v1.37.2'), 'deprecated');
      assert.equal(judgeApi({ apiVersion: 'extensions/v1beta1', kind: 'Deployment' }, 'v1.37.2')?.verdict, 'removed');
      assert.equal(
        judgeApi({ apiVersion: 'resource.k8s.io/v1beta2', resource: 'resourceclaims' }, 'v1.37.2')?.verdict,
        'deprecated',
      );
      assert.equal(judgeApi({ apiVersion: 'apps/v1', kind: 'Deployment' }, 'v1.37.2'), undefined);
    });

    it('scans each kind it names once, at its replacement API', () => {
      const kinds = kindsToScan();
      assert.ok(kinds.some((k) => k.apiVersion === 'apps/v1' && k.kind === 'Deployment'));
      assert.ok(kinds.some((k) => k.apiVersion === 'policy/v1' && k.resource === 'poddisruptionbudgets'));
      assert.equal(new Set(kinds.map((k) => `${k.apiVersion} ${k.kind}`)).size, kinds.length);
      assert.ok(
        !kinds.some((k) => k.kind === 'TokenReview' || k.kind === 'Event'),
        'kinds never applied are not listed',
      );
      assert.ok(
        !kinds.some((k) => k.kind === 'PodSecurityPolicy' && k.apiVersion === ''),
        'no kind without a replacement',
      );
    });
  });

  it('names each client API per apiserver from the metric: removed blocks, deprecated warns', async () => {
    const port = new FakeReadiness();
    port.metrics['cp-a'] = [
      '# HELP apiserver_requested_deprecated_apis ...',
      metricLine('networking.k8s.io', 'v1beta1', 'servicecidrs', '1.37'),
      metricLine('coordination.k8s.io', 'v1beta1', 'leasecandidates', '1.39'),
    ].join('\n');
    port.metrics['cp-b'] = metricLine('example.io', 'v1alpha1', 'widgets', '');
    const result = await checkApis(port, port.endpoints, { target: 'v1.37.2', acceptRemovedApis: false });
    const bySubject = result.apis.map((a) => [a.subject, a.apiVersion, a.severity]);
    assert.deepEqual(bySubject, [
      ['clients of apiserver cp-a', 'networking.k8s.io/v1beta1', 'block'],
      ['clients of apiserver cp-a', 'coordination.k8s.io/v1beta1', 'warn'],
      ['clients of apiserver cp-b', 'example.io/v1alpha1', 'warn'],
    ]);
    assert.deepEqual(
      result.findings.map((f) => f.code),
      ['api.removed', 'api.deprecated', 'api.deprecated'],
    );
    assert.match(result.findings[0]!.message, /removed in 1\.37.*use networking\.k8s\.io\/v1/);
  });

  it('names each stored object whose last-applied or Helm manifest uses a removed API', async () => {
    const port = new FakeReadiness();
    port.stored = {
      objects: [
        {
          apiVersion: 'extensions/v1beta1',
          kind: 'Deployment',
          name: 'web',
          namespace: 'shop',
          via: 'last-applied',
          owner: 'Deployment shop/web (last-applied)',
        },
        {
          apiVersion: 'policy/v1beta1',
          kind: 'PodDisruptionBudget',
          name: 'db',
          namespace: 'shop',
          via: 'helm',
          owner: 'shop/db v3',
        },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'fine',
          namespace: 'shop',
          via: 'helm',
          owner: 'shop/db v3',
        },
      ],
      incomplete: ['Helm releases not read: HTTP 403'],
    };
    const result = await checkApis(port, [], { target: 'v1.37.2', acceptRemovedApis: false });
    assert.deepEqual(
      result.apis.map((a) => [a.via, a.subject, a.severity]),
      [
        ['last-applied', 'Deployment shop/web (last-applied)', 'block'],
        ['helm', 'PodDisruptionBudget shop/db in helm release shop/db v3', 'block'],
      ],
    );
    assert.ok(result.findings.some((f) => f.severity === 'skipped' && /403/.test(f.message)));
  });

  it('turns removed APIs into warnings with --accept-removed-apis, still called removed', async () => {
    const port = new FakeReadiness();
    port.metrics['cp-a'] = metricLine('networking.k8s.io', 'v1beta1', 'servicecidrs', '1.37');
    const result = await checkApis(port, port.endpoints, { target: 'v1.37.2', acceptRemovedApis: true });
    assert.deepEqual(
      result.findings.map((f) => [f.code, f.severity]),
      [['api.removed', 'warn']],
    );
    assert.match(result.findings[0]!.message, /accepted with --accept-removed-apis/);
  });

  it('says which apiserver metrics could not be read (RBAC) and checks the others', async () => {
    const port = new FakeReadiness();
    port.metrics['cp-a'] = new Error('HTTP 403 forbidden');
    port.metrics['cp-b'] = metricLine('networking.k8s.io', 'v1beta1', 'ipaddresses', '1.37');
    const result = await checkApis(port, port.endpoints, { target: 'v1.37.2', acceptRemovedApis: false });
    assert.equal(result.findings[0]!.severity, 'skipped');
    assert.match(result.findings[0]!.hint ?? '', /nonResourceURLs/);
    assert.equal(result.apis[0]!.subject, 'clients of apiserver cp-b');
  });
});
