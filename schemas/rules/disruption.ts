/**
 * PodDisruptionBudget rules (Kubernetes' ValidatePodDisruptionBudgetSpec): `minAvailable` or
 * `maxUnavailable`, never both, each a whole number or a percentage of at most 100%; a readable
 * selector.
 */
import { invalidMessage } from '../causes';
import type { StatusCause } from '../status';
import type { Rec } from '../tree';
import { checkIntOrPercent } from './int-or-percent';
import { checkSelector } from './selector';

export function checkPodDisruptionBudget(spec: Rec, causes: StatusCause[]): void {
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
    causes.push(invalidMessage('spec', 'Invalid value: minAvailable and maxUnavailable cannot be both set'));
  checkIntOrPercent(spec.minAvailable, 'spec.minAvailable', causes);
  checkIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable', causes);
  checkSelector(spec.selector, 'spec.selector', causes);
}
