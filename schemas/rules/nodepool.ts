/**
 * NodePool rules a schema cannot say: `minNodes` at most `maxNodes`; every count at most
 * MAX_POOL_NODES, so no stored number can make the pool (or the autoscaler) ask a cloud for more
 * machines than a cluster of ferry's is tested with; with `spec.autoscaling.enabled` the upper
 * bound the autoscaler keeps to is given (the lower one is defaulted to 0), and `desiredNodes` is
 * not (the autoscaler owns the count: a count the user set would be stored and then overridden,
 * which ferry refuses rather than ignores).
 */
import { forbidden, invalid, required } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

/** The most nodes a pool may have: the scale bench's largest cluster that stayed Ready. */
export const MAX_POOL_NODES = 1000;

const COUNTS = ['minNodes', 'maxNodes', 'desiredNodes'] as const;

export function checkNodePool(spec: Rec, causes: StatusCause[]): void {
  for (const field of COUNTS) {
    const n = spec[field];
    if (typeof n === 'number' && n > MAX_POOL_NODES)
      causes.push(
        invalid(`spec.${field}`, n, `must be at most ${MAX_POOL_NODES} (the cluster size ferry is tested at)`),
      );
  }
  const min = spec.minNodes;
  const max = spec.maxNodes;
  if (typeof min === 'number' && typeof max === 'number' && min > max)
    causes.push(invalid('spec.minNodes', min, `must be less than or equal to spec.maxNodes (${max})`));
  const autoscaling = spec.autoscaling;
  if (!isRec(autoscaling) || autoscaling.enabled !== true) return;
  if (max === undefined)
    causes.push(required('spec.maxNodes', 'the autoscaler needs an upper bound when spec.autoscaling.enabled is true'));
  if (spec.desiredNodes !== undefined)
    causes.push(
      forbidden(
        'spec.desiredNodes',
        'the autoscaler sets the node count while spec.autoscaling.enabled is true (see status.autoscaling.desiredNodes): remove desiredNodes, or disable autoscaling to set it',
      ),
    );
}
