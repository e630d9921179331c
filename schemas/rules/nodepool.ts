/**
 * NodePool rules a schema cannot say: `minNodes` at most `maxNodes`; with `spec.autoscaling.enabled`
 * the bounds the autoscaler keeps to are both given, and `desiredNodes` is not (the autoscaler owns
 * the count: a count the user set would be stored and then overridden, which ferry refuses rather
 * than ignores), and `maxNodes` is at most 1000, so no stored number can make the autoscaler plan
 * (or a cloud make) more machines than a cluster of ferry's is tested with.
 */
import { forbidden, invalid, required } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

/** The most nodes an autoscaled pool may grow to: the scale bench's largest cluster that stayed Ready. */
export const MAX_AUTOSCALED_NODES = 1000;

export function checkNodePool(spec: Rec, causes: StatusCause[]): void {
  const min = spec.minNodes;
  const max = spec.maxNodes;
  if (typeof min === 'number' && typeof max === 'number' && min > max)
    causes.push(invalid('spec.minNodes', min, `must be less than or equal to spec.maxNodes (${max})`));
  const autoscaling = spec.autoscaling;
  if (!isRec(autoscaling) || autoscaling.enabled !== true) return;
  if (max === undefined)
    causes.push(required('spec.maxNodes', 'the autoscaler needs an upper bound when spec.autoscaling.enabled is true'));
  else if (typeof max === 'number' && max > MAX_AUTOSCALED_NODES)
    causes.push(
      invalid(
        'spec.maxNodes',
        max,
        `must be at most ${MAX_AUTOSCALED_NODES} with autoscaling (the cluster size ferry is tested at)`,
      ),
    );
  if (min === undefined)
    causes.push(required('spec.minNodes', 'the autoscaler needs a lower bound when spec.autoscaling.enabled is true'));
  if (spec.desiredNodes !== undefined)
    causes.push(
      forbidden(
        'spec.desiredNodes',
        'the autoscaler sets the node count while spec.autoscaling.enabled is true (see status.autoscaling.desiredNodes): remove desiredNodes, or disable autoscaling to set it',
      ),
    );
}
