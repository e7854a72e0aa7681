// What kubeswap writes on an old Node while it retires it: facts recorded in the cluster, so that a re-run
// (or a rollback) reads them instead of inferring them from a cordon an operator may have set.
import type { NodeView } from '../../domain/model.ts';

/** Set on the old Node once its drain completed, so a re-run does not drain again. */
export const DRAINED_ANNOTATION = 'kubeswap.io/drained';
/** Set on the old Node (value: the run id) before anything of it is touched: it is being retired. */
export const RETIRING_ANNOTATION = 'kubeswap.io/retiring';
/** Set with RETIRING_ANNOTATION when an operator had cordoned the Node before: a rollback leaves it cordoned. */
export const WAS_CORDONED_ANNOTATION = 'kubeswap.io/was-cordoned';

/**
 * Set on the old Node (an ISO time) just before kubeswap starts its machine's termination in the background: the
 * planner waits for the machine to be gone, bounded by --termination-timeout from this time.
 */
export const TERMINATING_ANNOTATION = 'kubeswap.io/terminating-since';

/** Whether kubeswap started retiring this Node (a cordon alone says nothing: an operator may have set it). */
export const isRetiring = (node: NodeView | undefined): boolean => node?.annotations[RETIRING_ANNOTATION] !== undefined;

/**
 * cluster-autoscaler skips a Node carrying this (cluster-autoscaler FAQ, "How can I prevent Cluster Autoscaler from
 * scaling down a particular node?"): set on a worker Node while it is replaced.
 */
export const SCALE_DOWN_DISABLED_ANNOTATION = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';
/** What SCALE_DOWN_DISABLED_ANNOTATION was before kubeswap set it ('' = absent), for a rollback to put back. */
export const SCALE_DOWN_WAS_ANNOTATION = 'kubeswap.io/scale-down-disabled-was';
