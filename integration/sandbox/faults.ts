// Fault injection: what goes wrong with a machine, either armed for an instance (by id) or for the next launch
// the simulator sees, or applied right now to a running machine.

/** Faults that shape how a newly launched machine boots and joins. */
export const LAUNCH_FAULTS = [
  'never-boot', // the VM never finishes booting: no member, no Node
  'slow-boot', // the VM takes `seconds` more to boot before it runs kubeadm join (its user data is read then)
  'die-after-member-add', // kubeadm added the etcd learner, then the VM died: a leaked, unstarted learner
  'die-after-promote', // the member was promoted to voter, then the VM died: a dead voting member
  'slow-etcd-catchup', // the learner needs `seconds` before it is in sync and can be promoted
  'apiserver-crash', // the new machine's kube-apiserver crash-loops after its first start
] as const;

/** Faults applied at once to a running machine. */
export const RUNNING_FAULTS = [
  'crash-etcd', // the machine's etcd process dies and stays down
  'crash-apiserver', // the machine's kube-apiserver dies and stays down
  'heal', // restart whatever of the machine crashed (the kubelet restarting its static pods)
] as const;

export type LaunchFault = (typeof LAUNCH_FAULTS)[number];
export type RunningFault = (typeof RUNNING_FAULTS)[number];

export interface FaultRequest {
  kind: LaunchFault | RunningFault;
  /** Instance id the fault is for; a launch fault for a not-yet-seen instance waits for it. */
  instanceId?: string;
  /** Node name of a running machine (running faults). */
  node?: string;
  /** Arm a launch fault for the next instance the simulator sees. */
  next?: boolean;
  /** Delay for slow-etcd-catchup and slow-boot (default 20 s). */
  seconds?: number;
}

export interface ArmedFault {
  kind: LaunchFault;
  seconds: number;
}

export function isLaunchFault(kind: string): kind is LaunchFault {
  return (LAUNCH_FAULTS as readonly string[]).includes(kind);
}

export function isRunningFault(kind: string): kind is RunningFault {
  return (RUNNING_FAULTS as readonly string[]).includes(kind);
}

/** Launch faults waiting for their instance, and the queue for the next launches. */
export class FaultBook {
  private readonly byInstance = new Map<string, ArmedFault>();
  private readonly nextLaunches: ArmedFault[] = [];

  arm(request: FaultRequest): void {
    if (!isLaunchFault(request.kind)) throw new Error(`${request.kind} is not a launch fault`);
    const fault = { kind: request.kind, seconds: request.seconds ?? 20 };
    if (request.instanceId) this.byInstance.set(request.instanceId, fault);
    else if (request.next) this.nextLaunches.push(fault);
    else throw new Error('a launch fault needs an instance id or --next');
  }

  /** The fault for a newly seen instance: its own, else the next queued one. Consumed once taken. */
  take(instanceId: string): ArmedFault | undefined {
    const own = this.byInstance.get(instanceId);
    if (own) {
      this.byInstance.delete(instanceId);
      return own;
    }
    return this.nextLaunches.shift();
  }

  pending(): { instances: Record<string, ArmedFault>; next: ArmedFault[] } {
    return { instances: Object.fromEntries(this.byInstance), next: [...this.nextLaunches] };
  }
}
