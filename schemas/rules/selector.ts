/**
 * A LabelSelector as Kubernetes' ValidateLabelSelector checks it: matchLabels is a label map;
 * each matchExpression has a qualified-name key, one of the four operators, values for In/NotIn
 * and none for Exists/DoesNotExist, each a valid label value. A selector stored with operator
 * "Foo" would make every controller that reads it throw, so it is refused here.
 * https://github.com/kubernetes/apimachinery/blob/master/pkg/apis/meta/v1/validation/validation.go
 */
import { forbidden, invalid, notSupported, required } from '../causes';
import type { StatusCause } from '../status';
import { isRec } from '../tree';
import { checkLabels } from './meta';
import { validLabelValue, validQualifiedName } from './names';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

export function checkSelector(selector: unknown, path: string, causes: StatusCause[]): void {
  if (!isRec(selector)) return;
  checkLabels(selector.matchLabels, `${path}.matchLabels`, causes);
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  exprs.forEach((e, i) => {
    if (!isRec(e)) return;
    const at = `${path}.matchExpressions[${i}]`;
    if (typeof e.key === 'string' && !validQualifiedName(e.key))
      causes.push(invalid(`${at}.key`, e.key, 'must be a qualified name (at most 63 characters, optional DNS prefix)'));
    const values = Array.isArray(e.values) ? e.values : [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0)
          causes.push(required(`${at}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0)
          causes.push(forbidden(`${at}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        causes.push(notSupported(`${at}.operator`, e.operator, OPERATORS));
    }
    values.forEach((v, j) => {
      if (typeof v === 'string' && !validLabelValue(v))
        causes.push(
          invalid(
            `${at}.values[${j}]`,
            v,
            "a valid label value must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.'",
          ),
        );
    });
  });
}
