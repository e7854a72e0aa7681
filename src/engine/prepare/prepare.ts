// What must be true before the first replacement joins (notes/kubernetes.md §2 and §4 "Before the
// first swap"). Each step is create-if-missing or compare-and-set, so repeating it is harmless.

import type { EventCode } from '../../domain/events.ts';
import { apiVersionNeed, migrateClusterConfiguration } from '../../domain/kubeadm/api-migration.ts';
import {
  bumpKubernetesVersion,
  KUBEADM_CONFIG,
  KUBEADM_NAMESPACE,
  parseClusterConfiguration,
} from '../../domain/kubeadm/cluster-config.ts';
import { pruneClusterStatus } from '../../domain/kubeadm/cluster-status.ts';
import { parseTargetVersion } from '../../domain/kubeadm/versions.ts';
import type { ConfigMapView, RbacObject } from '../../ports/kube.ts';
import { retryOnConflict } from '../conflicts.ts';
import type { Ports } from '../ports.ts';
import { ensureKubeletConfigAndRbac, kubeletConfigPlan } from './kubelet-config.ts';

/**
 * What the run's plan (inspect, run.ts) read a moment before, under the same run: the kubelet-config ConfigMaps of
 * both versions that exist, and the join RBAC objects present (`Kind/namespace/name`). Not read again here (issue 15
 * §2: each was read twice before the first swap). Objects kubeadm creates and only a person deletes; a ConfigMap that
 * disappeared since is still caught by the replacement's join, which fails its download and is rolled back.
 */
export interface PrepareSeen {
  kubeletConfigMaps: readonly string[];
  rbacPresent: readonly string[];
  /**
   * kubeadm-config as the plan read it: the first compare-and-set starts from it. Its replace is guarded by its
   * resourceVersion, so a write by anyone since fails (409) and the next attempt reads it afresh.
   */
  kubeadmConfig?: ConfigMapView;
}

export function rbacLabel(object: Pick<RbacObject, 'kind' | 'name'> & { namespace?: string }): string {
  return `${object.kind}/${object.namespace ? `${object.namespace}/` : ''}${object.name}`;
}

export async function prepareCluster(ports: Ports, from: string, to: string, seen?: PrepareSeen): Promise<void> {
  const emit = (code: EventCode, message: string, data?: Record<string, unknown>) =>
    ports.emit({ code, at: ports.clock.now().toISOString(), level: 'info', message, data });
  // The kubelet-config reads do not depend on kubeadm-config: they go out beside its compare-and-set.
  const configMapsRead = seen ? Promise.resolve([...seen.kubeletConfigMaps]) : kubeletConfigMaps(ports, from, to);
  configMapsRead.catch(() => undefined);
  // kubeadm join of version X fails its KubeletVersion preflight unless kubernetesVersion is X.
  let nodeNames: string[] | undefined;
  // A compare-and-set: a 409 (someone wrote kubeadm-config since it was read) reads it again.
  let first = seen?.kubeadmConfig;
  await retryOnConflict(async () => {
    const cm = first ?? (await ports.kube.getConfigMap(KUBEADM_NAMESPACE, KUBEADM_CONFIG));
    first = undefined;
    if (!cm) throw new Error('kube-system/kubeadm-config disappeared');
    const data = { ...cm.data };
    const bumped = bumpKubernetesVersion(data['ClusterConfiguration'] ?? '', to);
    // The replacements' kubeadm join downloads this ClusterConfiguration: it must be in an API version the
    // target kubeadm reads (v1.37 refuses v1beta3). Otherwise the bytes stay as they are.
    const migration = migrationFor(bumped.text, to);
    // ClusterStatus exists only up to kubeadm 1.21; from 1.22 endpoints live on the static pods.
    // Only then are the Nodes needed: every Node is one list of 5,000 on a large cluster (issue 15 §3).
    // From the API server, not the run's watched cache: ClusterStatus is written from it, and a watch may be silently dead.
    if (data['ClusterStatus']) nodeNames ??= (await ports.kube.listNodes({ fresh: true })).map((n) => n.name);
    const pruned = data['ClusterStatus'] ? pruneClusterStatus(data['ClusterStatus'], nodeNames ?? []) : undefined;
    if (!bumped.changed && !migration && !pruned?.changed) return;
    data['ClusterConfiguration'] = migration?.text ?? bumped.text;
    if (pruned) data['ClusterStatus'] = pruned.text;
    await ports.kube.replaceConfigMap({ ...cm, data });
    if (bumped.changed) {
      emit('kubeadm-config.version-bumped', `kubeadm-config kubernetesVersion ${bumped.previous} -> ${to}`, {
        from: bumped.previous,
        to,
      });
    }
    if (migration) {
      const moved = migration.moved.map((m) => `${m.setting} ${m.value} (v1beta4 keeps it in ${m.to})`);
      emit(
        'kubeadm-config.api-migrated',
        `kubeadm-config ClusterConfiguration converted ${migration.from} -> ${migration.to}, as \`kubeadm config migrate\` does${moved.length ? `; no longer in kubeadm-config: ${moved.join(', ')}` : ''}`,
        { from: migration.from, to: migration.to, moved: migration.moved },
      );
    }
    if (pruned?.changed) emit('kubeadm-config.endpoints-reconciled', `ClusterStatus.apiEndpoints pruned to live nodes`);
  });
  const configMaps = await configMapsRead;
  const full = kubeletConfigPlan(from, to, { configMaps });
  const plan = seen
    ? {
        ...full,
        rbac: full.rbac.filter((o) => !seen.rbacPresent.includes(rbacLabel(o))),
        // A ConfigMap seen, and not the copy's target: no need to read it again.
        verify: full.verify.filter((name) => !configMaps.includes(name) || full.copy?.to === name),
      }
    : full;
  const created = await ensureKubeletConfigAndRbac(ports.kube, plan);
  emit('kubelet-config.ensured', created.length ? `created ${created.join(', ')}` : 'kubelet config and RBAC present', {
    created,
  });
}

/** Which of the kubelet-config ConfigMaps of both versions exist (kubeletConfigPlan decides from them). */
export async function kubeletConfigMaps(ports: Pick<Ports, 'kube'>, from: string, to: string): Promise<string[]> {
  const names = ['kubelet-config', `kubelet-config-${minorOf(from)}`, `kubelet-config-${minorOf(to)}`];
  const found = await Promise.all(
    names.map(async (name) => ((await ports.kube.getConfigMap(KUBEADM_NAMESPACE, name)) ? name : undefined)),
  );
  return found.filter((n): n is string => n !== undefined);
}

function migrationFor(text: string, to: string) {
  const target = parseTargetVersion(to);
  const stored = parseClusterConfiguration(text).apiVersion;
  const need = target ? apiVersionNeed(stored, target) : ({ kind: 'keep' } as const);
  if (need.kind === 'keep') return undefined;
  // Preflight refuses this before anything changes; reaching it here is a bug.
  if (need.kind === 'unsupported') throw new Error(`no conversion of kubeadm-config ${stored} for ${to}`);
  return { ...migrateClusterConfiguration(text, need.to), from: need.from, to: need.to };
}

function minorOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  return m ? `${m[1]}.${m[2]}` : version;
}
