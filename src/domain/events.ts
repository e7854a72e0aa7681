// The engine never prints: it emits events with stable codes to an injected sink, and the CLI renders
// them as text, JSON lines or Markdown. Scenarios and CI pipelines match on `code`, never on text.

export const EVENT_CODES = [
  'run.started',
  'run.resumed',
  'run.finished',
  'run.nothing-to-do',
  'run.failed',
  'run.interrupted',
  'run.interrupt-received',
  'preflight.passed',
  'preflight.problem',
  'readiness.checked',
  'availability.swap',
  'availability.run',
  'lock.acquired',
  'lock.released',
  'lock.lost',
  'etcd.snapshot-saved',
  'etcd.snapshot-in-checkout',
  'kubeadm-config.version-bumped',
  'kubeadm-config.api-migrated',
  'kubeadm-config.endpoints-reconciled',
  'kubelet-config.ensured',
  'bootstrap.prepared',
  'bootstrap.issued',
  'bootstrap.cleaned',
  'plan.machine',
  'plan.orphan',
  'plan.step',
  'wait',
  'gate.passed',
  'swap.started',
  'swap.finished',
  'replacement.created',
  'replacement.joined',
  'replacement.failed',
  'replacement.rolled-back',
  'target.registered',
  'target.deregistered',
  'node.drain-started',
  'node.drained',
  'node.drain-blocked',
  'etcd.leader-moved',
  'etcd.member-removed',
  'machine.terminated',
  'machine.terminating',
  'machine.deletion-started',
  'node.deleted',
  'node.pods-released',
  'orphan.removed',
  'dry-run.step',
  'verify.passed',
  'verify.failed',
  'addon.skipped',
  'addon.current',
  'addon.image-set',
  'addon.rolled-out',
  'addon.blocked',
  'pool.rollout-started',
  'provider.run-began',
  'provider.run-restored',
  'provider.restore-deferred',
] as const;
export type EventCode = (typeof EVENT_CODES)[number];

export interface KubeswapEvent {
  code: EventCode;
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  /** Node name of the machine being replaced, when the event concerns one. */
  machine?: string;
  /** Structured details (ids, durations, reasons). Never secrets. */
  data?: Record<string, unknown>;
}

export type EventSink = (event: KubeswapEvent) => void;

/** Collects events in memory: the test double and the source of `--summary`. */
export class EventLog {
  readonly events: KubeswapEvent[] = [];
  readonly sink: EventSink = (event) => {
    this.events.push(event);
  };
  codes(): EventCode[] {
    return this.events.map((e) => e.code);
  }
}

export function fanOut(...sinks: EventSink[]): EventSink {
  return (event) => {
    for (const sink of sinks) sink(event);
  };
}
