import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parseTargetVersion } from '../../src/domain/kubeadm/versions.ts';
import { rbacRepairProblems } from '../../src/engine/checks/access.ts';
import { joinRbac } from '../../src/engine/prepare/join-rbac.ts';
import type { AccessCheck } from '../../src/ports/kube.ts';
import { describePermission, KUBESWAP_PERMISSIONS } from '../../templates/rbac/permissions.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
const load = (file: string) =>
  parseAllDocuments(readFileSync(new URL(`../../templates/rbac/${file}`, import.meta.url), 'utf8')).map(
    (d) =>
      d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[] } & Record<
        string,
        any
      >,
  );

/** Every (verb, resource, name, namespace) a set of Roles and ClusterRoles grants, as describePermission names it. */
function granted(docs: ReturnType<typeof load>): string[] {
  const out: string[] = [];
  for (const doc of docs.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole')) {
    for (const rule of doc.rules ?? [])
      for (const group of rule.apiGroups)
        for (const full of rule.resources)
          for (const verb of rule.verbs)
            for (const name of rule.resourceNames ?? [undefined]) {
              const [resource, subresource] = full.split('/') as [string, string | undefined];
              out.push(
                describePermission({ group, resource, subresource, verb, name, namespace: doc.metadata.namespace }),
              );
            }
  }
  return out.sort();
}

describe('templates/rbac grants exactly what kubeswap asks for', () => {
  it('kubeswap.yaml: every permission needed in every mode, nothing more', () => {
    const needed = KUBESWAP_PERMISSIONS.filter((p) => !p.when)
      .map(describePermission)
      .sort();
    assert.deepEqual(granted(load('kubeswap.yaml')), needed);
  });

  it('kubeswap-render.yaml: what --user-data render adds, nothing more', () => {
    const needed = KUBESWAP_PERMISSIONS.filter((p) => p.when === 'render')
      .map(describePermission)
      .sort();
    assert.deepEqual(granted(load('kubeswap-render.yaml')), needed);
  });

  it('lists each permission once', () => {
    const all = KUBESWAP_PERMISSIONS.map(describePermission);
    assert.equal(new Set(all).size, all.length);
  });

  for (const file of ['bind-serviceaccount.yaml', 'bind-group.yaml']) {
    it(`${file} binds every role of the templates, in its own namespace`, () => {
      const roles = [...load('kubeswap.yaml'), ...load('kubeswap-render.yaml')].map(
        (r) => `${r.kind} ${r.metadata.namespace ?? ''}/${r.metadata.name}`,
      );
      const bindings = load(file).filter((d) => d.kind.endsWith('Binding'));
      const bound = bindings.map(
        (b) => `${b.roleRef.kind} ${b.kind === 'RoleBinding' ? b.metadata.namespace : ''}/${b.roleRef.name}`,
      );
      assert.deepEqual(bound.sort(), roles.sort());
      const subjects = new Set(bindings.map((b) => JSON.stringify(b.subjects)));
      assert.equal(subjects.size, 1, 'one subject for every binding');
    });
  }

  it('kubeswap-rbac-repair.yaml: what recreating every kubeadm join RBAC object needs (preflight asks the same), nothing more', async () => {
    // Preflight's own question list, for a cluster that lost every object of the newest table.
    const asked: AccessCheck[] = [];
    await rbacRepairProblems(
      {
        rbacExists: async () => false,
        canI: async (checks) => {
          asked.push(...checks);
          return checks.map(() => true);
        },
      },
      joinRbac(parseTargetVersion('v1.37.2')!),
    );
    const needed = [...new Set(asked.map(describePermission))].sort();
    assert.deepEqual(granted(load('kubeswap-rbac-repair.yaml')), needed);
  });
});
