/**
 * PriorityClass rules a schema cannot say, as Kubernetes' ValidatePriorityClass has them: the
 * `system-` names are the built-ins' own (with their values), and a user's class stays at or
 * below 1,000,000,000 so nothing outranks the cluster's critical pods.
 */
import { forbidden } from '../causes';
import { HIGHEST_USER_PRIORITY, SYSTEM_PRIORITY_CLASSES, SYSTEM_PRIORITY_PREFIX } from '../scheduling';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

export function checkPriorityClass(obj: Rec, causes: StatusCause[]): void {
  const name = isRec(obj.metadata) ? obj.metadata.name : undefined;
  const value = obj.value;
  if (typeof name === 'string' && name.startsWith(SYSTEM_PRIORITY_PREFIX)) {
    const builtIn = SYSTEM_PRIORITY_CLASSES.find((c) => c.metadata.name === name);
    if (!builtIn) {
      causes.push(
        forbidden(
          'metadata.name',
          `priority class names with '${SYSTEM_PRIORITY_PREFIX}' prefix are reserved for system use only`,
        ),
      );
    } else if (value !== builtIn.value) {
      causes.push(forbidden('value', `the value of the built-in priority class ${name} is ${builtIn.value}`));
    }
    return;
  }
  if (typeof value === 'number' && value > HIGHEST_USER_PRIORITY) {
    causes.push(forbidden('value', `maximum allowed value of a user defined priority is ${HIGHEST_USER_PRIORITY}`));
  }
}
