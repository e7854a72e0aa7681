// The one contract every machine provider implements (built-in ones too), versioned and checked at
// load time (providers/index.ts) so a provider built for another contract is refused with a clear
// message. providers/README.md documents it for third parties.
import type { ApiTarget, Desired, DriftReason, Machine } from '../domain/model.ts';
import type { PoolRollout, RolloutStrategy } from '../domain/rollouts.ts';
import type { BootstrapSecretStore } from './secrets.ts';

/**
 * 2: machines belong to pools, have generic phases and say why they drift; the provider links Nodes
 * to machines, declares capabilities, and load-balancer membership is an optional sub-port.
 */
export const PROVIDER_CONTRACT_VERSION = 2;

export interface ProviderProblem {
  /** Stable code, e.g. `image.not-found`, `launch-template.not-found`. */
  code: string;
  message: string;
  /** What to do about it. */
  hint?: string;
}

export interface ProviderCapabilities {
  /** Can run one machine more than the pool's size while a replacement joins (--max-surge 1). */
  surge: boolean;
  /**
   * The provider keeps load-balancer membership itself (an Auto Scaling Group with attached target
   * groups, a Cluster API infrastructure provider): the engine then never registers or deregisters.
   */
  ownsLoadBalancer: boolean;
  /** The provider renders bootstrap data itself (Cluster API's kubeadm bootstrap provider): no render mode. */
  rendersBootstrap: boolean;
  /**
   * A replacement can carry user data kubeswap rendered (render mode). False when machines boot only from what the
   * provider's own template says (an Auto Scaling group launches from its launch template). Absent: true.
   */
  acceptsUserData?: boolean;
  /**
   * How a create is made idempotent: `client-token` (the cloud remembers a token: AWS keeps it >= 24 h, so a
   * retry after a rollback needs a new one), `name` (a deterministic object name), `tag` (found by its tags).
   */
  idempotencyKey: 'client-token' | 'name' | 'tag';
  /**
   * The provider's system cordons and drains the Node itself once the machine's deletion starts, then holds the
   * machine (reported as `Machine.held`) until `terminate` releases it: Cluster API's Machine deletion with a
   * pre-terminate hook. The engine then calls `startDeletion` instead of draining, waits for `held`, removes the
   * etcd member, and `terminate` lets the infrastructure and the Node go. Requires `startDeletion`.
   */
  drainsOnDelete?: boolean;
  /**
   * Worker pools are rolled by the provider's own system (Cluster API MachineDeployments): kubeswap bumps the pool's
   * template and follows that rollout (`pools` sub-port) instead of replacing worker machines. Requires `pools`.
   */
  rollsPools?: boolean;
}

/**
 * Optional sub-port (with `capabilities.rollsPools`): worker pools whose machines the provider's system replaces
 * itself, in its own rolling update. Both calls are idempotent.
 */
export interface RolledPools {
  /** The pool's rolled objects (MachineDeployments) and their rollouts, as seen now against `desired`. */
  rollouts(pool: string, desired: Desired): Promise<PoolRollout[]>;
  /** Points the object's template at `desired` (a re-run finds it done) and sets its strategy unless `keep`. */
  bump(pool: string, name: string, desired: Desired, strategy: RolloutStrategy): Promise<void>;
}

export interface ReplacementRequest {
  pool: string;
  /** The machine being replaced: the replacement lands in its failure domain. */
  replaces: Machine;
  runId: string;
  /**
   * Deterministic key (<= 64 chars) of this attempt: a re-run finds, never duplicates, and a retry after a
   * rollback is a new attempt with a new key.
   */
  token: string;
  desired: Desired;
  /** Bootstrap data kubeswap rendered (render mode); undefined = the provider's own (launch template's). */
  userData?: string;
  /** Extra labels (EC2 tags) to set at creation. */
  tags?: Record<string, string>;
}

/** Optional sub-port: the API load balancer's membership, when the provider manages one the engine drives. */
export interface LoadBalancerMembership {
  /** What the operator knows it by (a target group ARN), for the plan. */
  readonly name?: string;
  /** Settings of the load balancer itself a run changes, in words, for the plan. */
  readonly changes?: readonly string[];
  targets(): Promise<ApiTarget[]>;
  register(machineId: string): Promise<void>;
  /** Deregisters and waits until the target has finished draining. */
  deregister(machineId: string, timeoutMs: number, wait?: ProviderWait): Promise<void>;
}

/**
 * What the engine hands a call that waits (a deregistration's draining, a termination, a launch through a group),
 * besides its arguments. Optional on both sides: a provider that ignores it waits to the end as before, and one
 * that reads it from an engine that gives none gets undefined.
 */
export interface ProviderWait {
  /**
   * The run's interrupt (Ctrl-C, a CI cancel's SIGINT or SIGTERM): the wait then rejects promptly with the signal's
   * reason. What the call already started stays started (a target draining, an instance shutting down): the re-run
   * finds it so and waits for it again. A request in flight may finish first; the engine's cleanup after the
   * interrupt (`run.end`, the lock) is never given it.
   */
  signal?: AbortSignal;
}

export interface MachineProvider {
  readonly contractVersion: typeof PROVIDER_CONTRACT_VERSION;
  readonly name: string;
  readonly capabilities: ProviderCapabilities;
  /** Checks the desired image / template exist and resolves moving references (`$Latest`) to fixed ones. */
  resolveDesired(desired: {
    version: string;
    imageId?: string;
  }): Promise<{ desired?: Desired; problems: ProviderProblem[] }>;
  /** Machines linked to the given providerIds plus every machine kubeswap created for this cluster. */
  listMachines(pool: string, providerIds: string[]): Promise<Machine[]>;
  /** The id of the machine a Node's spec.providerID points at, or undefined when it is not this provider's. */
  machineIdOf(providerId: string): string | undefined;
  /** Why `machine` differs from what the provider would create for `desired` (empty: it matches). */
  drift(machine: Machine, desired: Desired): DriftReason[];
  /**
   * Problems with machines the run would replace that this provider does not manage as configured (e.g. the
   * instance lacks this cluster's tag: a wrong cluster name would tag replacements so a re-run cannot find them).
   */
  checkMachines(machines: Machine[]): ProviderProblem[];
  /** Creates (or finds, by token) the replacement; a provider that waits for its launch (a group) ends on `wait`. */
  createReplacement(request: ReplacementRequest, wait?: ProviderWait): Promise<Machine>;
  /** Deletes and waits until gone. Succeeds when already gone. */
  terminate(machineId: string, timeoutMs: number, wait?: ProviderWait): Promise<void>;
  /**
   * Optional: starts the machine's termination and returns without waiting (idempotent; succeeds when it is
   * already going or gone). The machine then reads phase `deleting` until it is `gone`, and the engine waits for
   * that while it observes the rest of the cluster. Without it the engine waits inside `terminate`.
   */
  beginTermination?(machineId: string): Promise<void>;
  /**
   * With `capabilities.drainsOnDelete`: starts the machine's deletion with a hold on it (idempotent), so its system
   * drains the Node and then waits for `terminate` before removing the machine.
   */
  startDeletion?(machineId: string): Promise<void>;
  /** API load balancer membership the engine drives; undefined when none is configured or the provider owns it. */
  readonly loadBalancer?: LoadBalancerMembership;
  /** Where render mode may keep join secrets for machines to fetch at boot (`--bootstrap-secrets`); optional. */
  readonly bootstrapSecrets?: BootstrapSecretStore;
  /** Worker pools the provider rolls itself (`capabilities.rollsPools`). */
  readonly pools?: RolledPools;
  /** Optional run-wide changes around the swaps (an Auto Scaling Group's suspended processes and sizes). */
  readonly run?: RunHooks;
}

/**
 * Run-wide changes a provider makes around the swaps and must undo (an Auto Scaling Group that would otherwise
 * fight the run). What it needs to undo them lives in the run's progress record, so the re-run after a kill -9
 * (a process that could run no code) undoes them too.
 */
export interface RunHooks {
  /**
   * Before the run's first change of the cluster. Refuse by throwing a `blocked` KubeswapError before calling
   * `record` (nothing changed: exit 2). Otherwise call `record(state)` with what `end` needs BEFORE changing
   * anything, then make the changes (idempotent: a resumed run calls it again with `saved`).
   */
  begin(run: {
    runId: string;
    desired: Desired;
    /** What an earlier process of this same run recorded; undefined on a run's first start. */
    saved: unknown;
    record(state: unknown): Promise<void>;
    /**
     * The pools this run replaces machines in (`control-plane` included unless --workers-only): change only
     * those. Undefined (an older engine): every pool.
     */
    pools?: readonly string[];
  }): Promise<void>;
  /**
   * On every end that can run code, and on a resumed run that finds nothing left to replace. Undo what is safe to
   * undo now; `restored: false` when something must wait for a re-run (the message says what and why).
   */
  end(run: { runId: string; saved: unknown; finished: boolean }): Promise<{ restored: boolean; message: string }>;
}

/** What the CLI hands a provider module: its own section of the configuration, and run-wide settings. */
export interface ProviderContext {
  /** The `provider:` section of the configuration (`name` and the provider's own keys). */
  settings: Readonly<Record<string, unknown>>;
  /** How often the provider may poll while it waits (termination, deregistration). */
  pollIntervalMs: number;
  env: Readonly<Record<string, string | undefined>>;
}

/** A provider as a module exports it: checked by the registry before anything is created. */
export interface ProviderModule {
  readonly contractVersion: number;
  readonly name: string;
  create(context: ProviderContext): MachineProvider & { destroy?(): void };
  /**
   * The workload cluster's kubeconfig (YAML) when the provider knows it (Cluster API's `<cluster>-kubeconfig`
   * Secret): used when no --kubeconfig is given. Never log it.
   */
  workloadKubeconfig?(context: ProviderContext): Promise<string>;
}
