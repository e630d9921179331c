/** What a ResourceQuota may say: resource names ferry counts, and well-formed amounts (else 422 naming the field). */
import type { StatusCause } from '../../errors';
import type { Obj } from '../../store/types';
import { validAmount } from '../limit-range';
import { kindOfPlural, QUOTA_RESOURCES } from './usage';

export function quotaProblems(obj: Obj): StatusCause[] {
  const causes: StatusCause[] = [];
  const hard = ((obj.spec ?? {}) as { hard?: Record<string, unknown> }).hard ?? {};
  for (const [resource, amount] of Object.entries(hard)) {
    const field = `spec.hard[${resource}]`;
    if (!countable(resource)) {
      causes.push({
        field,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: "${resource}": ferry counts ${[...QUOTA_RESOURCES].join(', ')} and count/<resource>[.<group>] of the kinds it serves`,
      });
    } else if (!validAmount(amount)) {
      causes.push({
        field,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(amount)}: must be a non-negative quantity`,
      });
    }
  }
  return causes;
}

function countable(resource: string): boolean {
  if (QUOTA_RESOURCES.has(resource)) return true;
  if (!resource.startsWith('count/')) return false;
  const [plural, group = ''] = resource.slice('count/'.length).split(/\.(.*)/s) as [string, string?];
  return kindOfPlural(plural, group) !== undefined;
}
