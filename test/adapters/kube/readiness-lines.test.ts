import assert from 'node:assert/strict';
import { linesKept } from '../../../src/adapters/kube/readiness.ts';
import { parseDeprecatedApis } from '../../../src/domain/readiness/deprecated-metric.ts';

describe('linesKept (/metrics read as it streams)', () => {
  const exposition = [
    '# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested',
    '# TYPE apiserver_requested_deprecated_apis gauge',
    'apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.32",resource="flowschemas",subresource="",version="v1beta3"} 1',
    'apiserver_request_total{code="200",verb="GET"} 42',
    'apiserver_requested_deprecated_apis{group="",removed_release="",resource="componentstatuses",subresource="",version="v1"} 1',
  ].join('\n');
  const keep = (line: string) => line.startsWith('apiserver_requested_deprecated_apis');

  it('keeps only the gauge lines, whatever the chunk boundaries (every split point)', () => {
    const whole = linesKept(keep);
    whole.push(exposition);
    const expected = whole.end();
    assert.equal(expected.split('\n').length, 2);
    assert.deepEqual(
      parseDeprecatedApis(expected).map((a) => a.resource),
      ['flowschemas', 'componentstatuses'],
    );
    for (let i = 0; i <= exposition.length; i++) {
      const lines = linesKept(keep);
      lines.push(exposition.slice(0, i));
      lines.push(exposition.slice(i));
      assert.equal(lines.end(), expected, `split at ${i}`);
    }
  });

  it('keeps a last line without a newline, and nothing when nothing matches', () => {
    const lines = linesKept(keep);
    for (const c of 'a 1\napiserver_requested_deprecated_apis{} 1') lines.push(c);
    assert.equal(lines.end(), 'apiserver_requested_deprecated_apis{} 1');
    const none = linesKept(keep);
    none.push('x 1\ny 2\n');
    assert.equal(none.end(), '');
  });
});
