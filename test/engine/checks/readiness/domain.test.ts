import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { decodeHelmRelease, imageTag } from '../../../../src/adapters/kube/readiness.ts';
import { parseDeprecatedApis } from '../../../../src/domain/readiness/deprecated-metric.ts';
import { lastAppliedObject, manifestObjects } from '../../../../src/domain/readiness/stored-manifests.ts';

describe('readiness: reading what the cluster reports and stores', () => {
  it('reads the deprecated-API gauge series set to 1, labels in any order', () => {
    const text = [
      '# TYPE apiserver_requested_deprecated_apis gauge',
      'apiserver_requested_deprecated_apis{group="networking.k8s.io",removed_release="1.37",resource="servicecidrs",subresource="",version="v1beta1"} 1',
      'apiserver_requested_deprecated_apis{version="v1",resource="x",group="",subresource="status",removed_release=""} 0',
      'apiserver_request_total{code="200"} 5',
    ].join('\n');
    assert.deepEqual(parseDeprecatedApis(text), [
      {
        group: 'networking.k8s.io',
        version: 'v1beta1',
        resource: 'servicecidrs',
        subresource: '',
        removedRelease: '1.37',
      },
    ]);
  });

  it('reads the object of a last-applied annotation, and nothing from one that is not JSON', () => {
    const annotation = JSON.stringify({
      apiVersion: 'extensions/v1beta1',
      kind: 'Deployment',
      metadata: { name: 'web' },
    });
    assert.deepEqual(lastAppliedObject(annotation, 'shop'), {
      apiVersion: 'extensions/v1beta1',
      kind: 'Deployment',
      name: 'web',
      namespace: 'shop',
    });
    assert.equal(lastAppliedObject('{not json', 'shop'), undefined);
  });

  it('reads every object of a Helm manifest: documents, comments, Lists, empty documents', () => {
    const manifest = [
      '---',
      '# Source: app/templates/pdb.yaml',
      'apiVersion: policy/v1beta1',
      'kind: PodDisruptionBudget',
      'metadata:',
      '  name: db',
      '---',
      '# Source: app/templates/empty.yaml',
      '---',
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- {apiVersion: batch/v1beta1, kind: CronJob, metadata: {name: nightly, namespace: ops}}',
    ].join('\n');
    assert.deepEqual(manifestObjects(manifest, 'shop'), [
      { apiVersion: 'policy/v1beta1', kind: 'PodDisruptionBudget', name: 'db', namespace: 'shop' },
      { apiVersion: 'batch/v1beta1', kind: 'CronJob', name: 'nightly', namespace: 'ops' },
    ]);
  });

  it('decodes a Helm 3 release Secret value as Helm writes it (base64 of gzip of JSON, base64 again as Secret data)', () => {
    const release = { name: 'db', namespace: 'shop', version: 3, manifest: 'apiVersion: v1\nkind: ConfigMap\n' };
    const helmEncoded = gzipSync(Buffer.from(JSON.stringify(release))).toString('base64');
    const secretData = Buffer.from(helmEncoded).toString('base64');
    assert.deepEqual(decodeHelmRelease(secretData), release);
    assert.equal(decodeHelmRelease(Buffer.from('garbage').toString('base64')), undefined);
  });

  it('reads the version of an image reference, with a registry port and a digest', () => {
    assert.equal(imageTag('registry.k8s.io/kube-proxy:v1.36.3'), 'v1.36.3');
    assert.equal(imageTag('localhost:5000/coredns/coredns:v1.14.2@sha256:abc'), 'v1.14.2');
    assert.equal(imageTag('localhost:5000/coredns'), 'latest');
  });
});
