// The addon phase after the control plane: observe kube-proxy and CoreDNS, plan (plan.ts), set the images
// kubeadm of the target would write, and wait for both rollouts, bounded. Idempotent: an image already set is
// only waited for, so a re-run after an interruption finishes what was started.
import { parseAddonImageConfig } from '../../domain/addons/images.ts';
import { KUBE_PROXY_CONFIG_KEY, kubeProxyConfigApiVersion } from '../../domain/addons/kube-proxy.ts';
import { formatDuration } from '../../domain/clock.ts';
import { describeError, KubeswapError } from '../../domain/errors.ts';
import type { EventCode } from '../../domain/events.ts';
import { CLUSTER_CONFIGURATION_KEY, KUBEADM_CONFIG, KUBEADM_NAMESPACE } from '../../domain/kubeadm/cluster-config.ts';
import type { ConfigMapView, KubePort, WorkloadView } from '../../ports/kube.ts';
import type { Ports } from '../ports.ts';
import { Wakeup } from '../run/wakeup.ts';
import { ADDON_NAMESPACE, type AddonDecision, type AddonObservation, planAddons, rolledOut } from './plan.ts';
import { RolloutWatch } from './rollout-watch.ts';

/** `kubeadmConfig`: kubeadm-config read already (the plan reads it once for all its readers), else read here. */
export async function observeAddons(
  kube: KubePort,
  kubeadmConfig?: Promise<ConfigMapView | undefined>,
): Promise<AddonObservation> {
  const kubeadm = await (kubeadmConfig ?? kube.getConfigMap(KUBEADM_NAMESPACE, KUBEADM_CONFIG));
  const config = parseAddonImageConfig(kubeadm?.data[CLUSTER_CONFIGURATION_KEY] ?? '');
  if (!kube.getWorkload)
    return { config, unsupported: 'this Kubernetes client cannot read DaemonSets and Deployments' };
  try {
    const [kubeProxy, proxyConfig, coreDns, dnsConfig] = await Promise.all([
      kube.getWorkload('DaemonSet', ADDON_NAMESPACE, 'kube-proxy'),
      kube.getConfigMap(ADDON_NAMESPACE, 'kube-proxy'),
      kube.getWorkload('Deployment', ADDON_NAMESPACE, 'coredns'),
      kube.getConfigMap(ADDON_NAMESPACE, 'coredns'),
    ]);
    const proxyText = proxyConfig?.data[KUBE_PROXY_CONFIG_KEY];
    return {
      config,
      kubeProxy,
      kubeProxyConfigApiVersion: proxyText === undefined ? undefined : (kubeProxyConfigApiVersion(proxyText) ?? ''),
      coreDns,
      corefile: dnsConfig?.data['Corefile'],
    };
  } catch (err) {
    return { config, unreadable: `kube-proxy and CoreDNS could not be read: ${describeError(err)}` };
  }
}

export interface AddonRunOptions {
  version: string;
  skip: boolean;
  timeoutMs: number;
  pollIntervalMs: number;
  signal?: AbortSignal;
  /** Checked right before each change, as every mutating step of a run. */
  verifyLock?: () => Promise<void>;
}

export interface AddonOutcome {
  plan: AddonDecision[];
  blocked: AddonDecision[];
}

const label = (d: AddonDecision) => (d.addon === 'coredns' ? 'CoreDNS' : 'kube-proxy');

export async function upgradeAddons(ports: Ports, options: AddonRunOptions): Promise<AddonOutcome> {
  const emit = (code: EventCode, level: 'info' | 'warn', message: string, data?: Record<string, unknown>) =>
    ports.emit({ code, at: ports.clock.now().toISOString(), level, message, data });
  const plan = planAddons(await observeAddons(ports.kube), options.version, options.skip);
  for (const d of plan) {
    const data = { addon: d.addon, action: d.action, from: d.from, to: d.to, notes: d.notes };
    if (d.action === 'skip') emit('addon.skipped', 'info', `${label(d)} skipped: ${d.reason}`, data);
    else if (d.action === 'current') emit('addon.current', 'info', `${label(d)} ${d.reason}`, data);
    else if (d.action === 'blocked')
      emit('addon.blocked', 'warn', `${label(d)} left alone: ${d.reason}`, { ...data, hint: d.hint });
  }
  const rolling = plan.filter((d) => d.action === 'update' || d.action === 'wait');
  for (const d of rolling.filter((r) => r.action === 'update')) {
    await options.verifyLock?.();
    await ports.kube.setContainerImage!(d.kind, ADDON_NAMESPACE, d.name, d.container, d.to!);
    const notes = d.notes.length > 0 ? ` (${d.notes.join('; ')})` : '';
    emit('addon.image-set', 'info', `${label(d)}: ${d.kind} ${d.name} image ${d.from} -> ${d.to}${notes}`, {
      addon: d.addon,
      from: d.from,
      to: d.to,
      notes: d.notes,
    });
  }
  await awaitRollouts(ports, rolling, options, emit);
  return { plan, blocked: plan.filter((d) => d.action === 'blocked') };
}

/**
 * Follows each workload until kubectl would call its rollout finished; exit 4 when the timeout passes first. With a
 * watch (RolloutWatch) a pass reads nothing while the watch stands for a read, and a change wakes it at once; without
 * one, or while it does not stand for a read, each pass reads the workload.
 */
async function awaitRollouts(
  ports: Ports,
  rolling: AddonDecision[],
  options: AddonRunOptions,
  emit: (code: EventCode, level: 'info' | 'warn', message: string, data?: Record<string, unknown>) => void,
): Promise<void> {
  if (rolling.length === 0) return;
  const wakeup = new Wakeup();
  const { watchWorkload } = ports.kube;
  const watch = watchWorkload
    ? new RolloutWatch({ watchWorkload }, ports.clock, ADDON_NAMESPACE, rolling, wakeup.notify)
    : undefined;
  try {
    await followRollouts(ports, rolling, options, emit, watch, wakeup);
  } finally {
    watch?.stop();
  }
}

async function followRollouts(
  ports: Ports,
  rolling: AddonDecision[],
  options: AddonRunOptions,
  emit: (code: EventCode, level: 'info' | 'warn', message: string, data?: Record<string, unknown>) => void,
  watch: RolloutWatch | undefined,
  wakeup: Wakeup,
): Promise<void> {
  const started = ports.clock.now().getTime();
  let pending = [...rolling];
  let lastWait = '';
  while (pending.length > 0) {
    wakeup.clear();
    const waiting: string[] = [];
    for (const d of pending) {
      const seen = watch?.current(d.kind, d.name);
      // A watch opened without a resourceVersion starts from the API server's watch cache, which may not hold our
      // image change yet: a watched version counts only once it runs the target image (a read after the change
      // always does).
      const w = seen ? seen.workload : await ports.kube.getWorkload!(d.kind, ADDON_NAMESPACE, d.name);
      if (w && rolledOut(w) && (!seen || runsImage(w, d))) {
        emit('addon.rolled-out', 'info', `${label(d)} rolled out: ${w.updated}/${w.desired} at ${d.to}`, {
          addon: d.addon,
          image: d.to,
          updated: w.updated,
          desired: w.desired,
        });
        continue;
      }
      waiting.push(
        w
          ? `${label(d)} ${w.updated}/${w.desired} updated, ${w.available} available, ${w.total} in all`
          : `${label(d)} ${d.kind} is gone`,
      );
    }
    pending = pending.filter((d) => waiting.some((w) => w.startsWith(label(d))));
    if (pending.length === 0) return;
    const elapsed = ports.clock.now().getTime() - started;
    if (elapsed >= options.timeoutMs) {
      throw new KubeswapError(
        'needs-person',
        'addon.rollout-timeout',
        `addon rollout not finished after ${formatDuration(elapsed)}: ${waiting.join('; ')}`,
        {
          hint: `the control plane is upgraded; look at the pods (kubectl -n kube-system rollout status ${pending.map((d) => `${d.kind.toLowerCase()}/${d.name}`).join(', ')}), fix what stops them, then re-run kubeswap apply with the same --to (or raise --addon-timeout)`,
        },
      );
    }
    const message = `waiting for ${waiting.join('; ')}`;
    if (message !== lastWait) emit('wait', 'info', message);
    lastWait = message;
    // A watched change wakes the pass early; the poll interval still bounds how late a read-based pass comes.
    await wakeup.sleep(ports.clock, options.pollIntervalMs, options.signal);
  }
}

/** The workload's template runs the image the decision sets. */
function runsImage(w: WorkloadView, d: AddonDecision): boolean {
  return w.containers.some((c) => c.name === d.container && c.image === d.to);
}

/** Exit 4 after the control plane: what was left alone, and exactly what to do about it. */
export function addonsBlocked(blocked: AddonDecision[]): KubeswapError {
  const first = blocked[0]!;
  return new KubeswapError(
    'needs-person',
    `addon.${first.addon}-blocked`,
    `the control plane is upgraded, but ${blocked.map((d) => `${label(d)} was left alone: ${d.reason}`).join('; ')}`,
    {
      hint: blocked
        .map((d) => d.hint)
        .filter(Boolean)
        .join('; '),
      problems: blocked.map((d) => ({ code: `addon.${d.addon}-blocked`, message: d.reason, hint: d.hint })),
      source: 'environment',
    },
  );
}
