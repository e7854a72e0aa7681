import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeconfig } from '../../../src/adapters/kube/config.ts';
import { KubeConfigError } from '../../../src/adapters/kube/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubeswap-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function kubeconfig(file: string, contexts: string[], current = contexts[0]): string {
  const path = join(dir, file);
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    ...contexts.flatMap((c) => [`- name: ${c}-cluster`, '  cluster:', `    server: https://${c}.example:6443`]),
    'users:',
    ...contexts.flatMap((c) => [`- name: ${c}-admin`, '  user:', '    token: t']),
    'contexts:',
    ...contexts.flatMap((c) => [`- name: ${c}`, '  context:', `    cluster: ${c}-cluster`, `    user: ${c}-admin`]),
    current ? `current-context: ${current}` : '',
  ].join('\n');
  writeFileSync(path, yaml);
  return path;
}
const nothing = { KUBECONFIG: undefined, home: join(dir, 'no-home'), exists: () => false };

describe('loadKubeconfig', () => {
  it('refuses instead of falling back to localhost:8080 when no kubeconfig exists', () => {
    assert.throws(
      () => loadKubeconfig({}, nothing),
      (err: Error) => {
        assert.ok(err instanceof KubeConfigError);
        assert.match(err.message, /no kubeconfig found: pass --kubeconfig/);
        return true;
      },
    );
  });

  it('names a --kubeconfig path that does not exist', () => {
    assert.throws(() => loadKubeconfig({ kubeconfig: join(dir, 'missing') }), /missing does not exist/);
  });

  it('summarizes server, context and user of the current context', () => {
    const path = kubeconfig('one.yaml', ['prod', 'staging']);
    assert.deepEqual(loadKubeconfig({ kubeconfig: path }).summary, {
      server: 'https://prod.example:6443',
      context: 'prod',
      user: 'prod-admin',
      source: path,
    });
  });

  it('switches to --context and lists the known ones when it does not exist', () => {
    const path = kubeconfig('two.yaml', ['prod', 'staging']);
    assert.equal(
      loadKubeconfig({ kubeconfig: path, context: 'staging' }).summary.server,
      'https://staging.example:6443',
    );
    assert.throws(
      () => loadKubeconfig({ kubeconfig: path, context: 'dev' }),
      /context "dev" is not in .*known contexts: prod, staging/,
    );
  });

  it('asks for --context when the file has no current-context', () => {
    const path = kubeconfig('none.yaml', ['prod'], '');
    assert.throws(() => loadKubeconfig({ kubeconfig: path }), /has no current-context: pass --context \(known: prod\)/);
  });

  it('merges the files of $KUBECONFIG, earlier files winning, missing ones skipped', () => {
    const a = kubeconfig('a.yaml', ['a', 'shared']);
    const b = kubeconfig('b.yaml', ['b', 'shared']);
    const env = { KUBECONFIG: `${a}:${join(dir, 'gone.yaml')}:${b}`, home: dir };
    const loaded = loadKubeconfig({ context: 'b' }, env);
    assert.equal(loaded.summary.user, 'b-admin');
    assert.match(loaded.summary.source, /^\$KUBECONFIG/);
    assert.equal(loadKubeconfig({}, env).summary.context, 'a');
  });
});
