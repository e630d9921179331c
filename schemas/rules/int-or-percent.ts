/**
 * IntOrString fields that count pods (maxUnavailable, maxSurge, minAvailable), as Kubernetes'
 * ValidatePositiveIntOrPercent and IsNotMoreThan100Percent check them: a whole number >= 0 or
 * `N%` with N at most 100. A `"five"` stored would make every controller that reads it guess.
 */
import { invalid } from '../causes';
import type { StatusCause } from '../status';

export function checkIntOrPercent(value: unknown, field: string, causes: StatusCause[]): void {
  if (value === undefined) return;
  if (typeof value === 'number') {
    if (value < 0) causes.push(invalid(field, value, 'must be greater than or equal to 0'));
    return;
  }
  if (typeof value !== 'string') return; // the schema reports the type
  const m = /^(\d+)%$/.exec(value);
  if (!m)
    causes.push(invalid(field, value, "a valid percent string must be a numeric string followed by an ending '%'"));
  else if (Number(m[1]) > 100) causes.push(invalid(field, value, 'must not be greater than 100%'));
}

/** 0 for `0` and `0%`: both mean "none". */
export function isZero(value: unknown): boolean {
  return value === 0 || (typeof value === 'string' && /^0+%$/.test(value));
}
