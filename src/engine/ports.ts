// Everything the engine touches, injected: outside systems behind ports, plus the clock and the sink.

import type { AvailabilityStats } from '../domain/availability.ts';
import type { Clock } from '../domain/clock.ts';
import type { EventSink } from '../domain/events.ts';
import type { PoolSpec } from '../domain/pools.ts';
import type { EtcdPort } from '../ports/etcd.ts';
import type { KubePort } from '../ports/kube.ts';
import type { MachineProvider } from '../ports/machines.ts';
import type { ApiProbePort } from '../ports/probe.ts';
import type { ReadinessPort } from '../ports/readiness.ts';
import type { SecretBytesPort } from '../ports/secrets.ts';
import type { PlanScope } from './plan/decisions.ts';

export interface Ports {
  kube: KubePort;
  etcd: EtcdPort;
  provider: MachineProvider;
  clock: Clock;
  emit: EventSink;
  /** What the readiness report reads; without it apply runs no readiness check (unit tests of the loop). */
  readiness?: ReadinessPort;
  /** One request through the cluster's endpoint; without it apply measures no availability. */
  probe?: ApiProbePort;
  /** The availability measured so far in this run (engine/run/availability.ts), for the verification pass. */
  availability?: () => AvailabilityStats;
}

/** Every interval and timeout of a run, each with a documented default (README "Options"). */
export interface EngineOptions {
  /** 1: add the replacement, then remove the old machine. 0: remove first (>= 3 members, quorum to spare). */
  maxSurge: 0 | 1;
  gatePasses: number;
  /** How long the gate may take to hold before the first change of a run; then the run is refused. */
  gateTimeoutMs: number;
  machineTimeoutMs: number;
  drainTimeoutMs: number;
  /** How long a deregistered API target may take to finish draining. */
  deregisterTimeoutMs: number;
  terminateTimeoutMs: number;
  pollIntervalMs: number;
  lockTtlSeconds: number;
  snapshotDir: string;
  dryRun: boolean;
  /** Leave kube-proxy and CoreDNS as they are after the control plane. */
  skipAddons: boolean;
  /** How long the kube-proxy and CoreDNS rollouts may take; then the run stops with exit 4. */
  addonTimeoutMs: number;
  /** Worker drains evict pods with emptyDir data too (kubectl drain --delete-emptydir-data). */
  deleteEmptyDirData?: boolean;
  /** Worker pools to roll after the control plane and addons, in order; empty = none. */
  pools?: readonly PoolSpec[];
  /** Which part of the cluster this run replaces. */
  scope?: PlanScope;
  /** Pause between two worker pools (and after the control plane, before the first one). */
  poolIntervalMs?: number;
  /** Render mode: kubeswap hands each replacement its kubeadm join; undefined = launch template's user data. */
  render?: RenderRequest;
}

export interface RenderRequest {
  tokenTtlSeconds: number;
  certificateKey?: string;
  pkiDir?: string;
  /** The cluster CA to pin (PEM); default: the CA in kube-public/cluster-info. */
  caCertPem?: string;
  secretBytes?: SecretBytesPort;
  /** `user-data`: the join travels in the user data; otherwise the provider's bootstrap secret store of that kind. */
  bootstrapSecrets: string;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  maxSurge: 1,
  gatePasses: 3,
  gateTimeoutMs: 5 * 60_000,
  machineTimeoutMs: 20 * 60_000,
  drainTimeoutMs: 10 * 60_000,
  deregisterTimeoutMs: 10 * 60_000,
  terminateTimeoutMs: 10 * 60_000,
  pollIntervalMs: 1000,
  lockTtlSeconds: 60,
  snapshotDir: '.',
  dryRun: false,
  skipAddons: false,
  addonTimeoutMs: 5 * 60_000,
};
