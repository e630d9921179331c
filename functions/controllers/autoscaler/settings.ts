/**
 * The autoscaler's settings: a pool's `spec.autoscaling` with its defaults resolved (the API
 * stores them defaulted; a pool written before the defaults existed gets the same values here),
 * the annotations it honours (cluster-autoscaler's own names, so manifests written for it work),
 * and the controller-wide bounds an operator sets.
 */
import type { NodePool } from '../../../schemas';

/** On a pod: "false" keeps its node from being scaled down; "true" lets it go despite local storage or no controller. */
export const SAFE_TO_EVICT = 'cluster-autoscaler.kubernetes.io/safe-to-evict';
/** On a node: "true" keeps the autoscaler from retiring it. */
export const SCALE_DOWN_DISABLED = 'cluster-autoscaler.kubernetes.io/scale-down-disabled';
/** The source of the autoscaler's Events (cluster-autoscaler's component name). */
export const AUTOSCALER_SOURCE = { component: 'cluster-autoscaler' };

export interface PoolAutoscaling {
  unneededMs: number;
  threshold: number;
  delayAfterAddMs: number;
  delayAfterDeleteMs: number;
  priority: number;
}

/** The pool's autoscaling settings, or undefined when the autoscaler leaves the pool alone. */
export function autoscalingOf(pool: NodePool): PoolAutoscaling | undefined {
  const a = pool.spec.autoscaling;
  if (!a?.enabled) return undefined;
  return {
    unneededMs: (a.scaleDownUnneededSeconds ?? 600) * 1000,
    threshold: a.scaleDownUtilizationThreshold ?? 0.5,
    delayAfterAddMs: (a.scaleDownDelayAfterAddSeconds ?? 600) * 1000,
    delayAfterDeleteMs: (a.scaleDownDelayAfterDeleteSeconds ?? 10) * 1000,
    priority: a.priority ?? 0,
  };
}

/** Controller-wide bounds (NodePoolOptions.autoscaler): what one pass may do over every pool. */
export interface AutoscalerLimits {
  /**
   * New machines one pass may create, over every pool together, autoscaled or not (default
   * MAX_NEW_NODES_PER_PASS): the autoscaler plans no more, and the node pool's scale-up makes no more.
   */
  maxNewNodesPerPass?: number;
  /** Nodes retiring for scale-down at once, over every pool (default 1: each removal is simulated against the cluster as it is). */
  maxScaleDownParallelism?: number;
}

/**
 * Machines are billed from the moment they are made, so the loop that makes them is bounded: a
 * pass creates at most this many, however large the gap (a typo'd desiredNodes of 1000, a target
 * restored after a move). A mistake costs ten machines, and the pool's events, before the next
 * pass makes more; machines that never register trip the churn guard within a few passes. Ten a
 * pass is still about sixty a minute at the 10 s resync, and passes come sooner after each write.
 */
export const MAX_NEW_NODES_PER_PASS = 10;

export const LIMIT_DEFAULTS = { maxNewNodesPerPass: MAX_NEW_NODES_PER_PASS, maxScaleDownParallelism: 1 };
