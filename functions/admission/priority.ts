/**
 * Priority admission, after Kubernetes' Priority plugin (plugin/pkg/admission/priority): a pod
 * being created gets `spec.priority` and `spec.preemptionPolicy` from its `priorityClassName`, or
 * from the cluster's globalDefault class when it names none (the lowest-valued one if several
 * claim it), else priority 0. A class that does not exist, or a pod that sets a priority or a
 * preemption policy other than its class's, is refused with Kubernetes' 403. The built-in
 * `system-cluster-critical`/`system-node-critical` resolve even where they are not stored (a store
 * made before they were). Only creates: the fields are immutable afterwards.
 */
import { type PreemptionPolicy, type PriorityClass, SYSTEM_PRIORITY_CLASSES } from '../../schemas/scheduling';
import type { Deps } from '../deps';
import { ForbiddenError } from '../errors';
import type { Obj } from '../store/types';

interface PrioritySpec {
  priorityClassName?: string;
  priority?: number;
  preemptionPolicy?: PreemptionPolicy;
}

/** Resolves a pod's priority in place; throws ForbiddenError as kube-apiserver does. */
export async function resolvePodPriority(deps: Deps, pod: Obj): Promise<void> {
  if (pod.kind !== 'Pod') return;
  const spec = (pod.spec ?? {}) as PrioritySpec;
  const refuse = (why: string) => new ForbiddenError(`pods "${pod.metadata.name}" is forbidden: ${why}`);
  let cls: PriorityClass | undefined;
  if (spec.priorityClassName) {
    cls = await classNamed(deps, spec.priorityClassName);
    if (!cls) throw refuse(`no PriorityClass with name ${spec.priorityClassName} was found`);
  } else {
    cls = await globalDefault(deps);
  }
  const priority = cls?.value ?? 0;
  const policy: PreemptionPolicy = cls?.preemptionPolicy ?? 'PreemptLowerPriority';
  if (spec.priority !== undefined && spec.priority !== priority) {
    throw refuse(
      `the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`,
    );
  }
  if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== policy) {
    throw refuse(
      `the string value of PreemptionPolicy (${spec.preemptionPolicy}) must not be provided in pod spec; priority admission controller computed ${policy} from the given PriorityClass name`,
    );
  }
  if (cls && !spec.priorityClassName) spec.priorityClassName = cls.metadata.name;
  spec.priority = priority;
  spec.preemptionPolicy = policy;
  pod.spec = spec;
}

async function classNamed(deps: Deps, name: string): Promise<PriorityClass | undefined> {
  const stored = await deps.store.get<PriorityClass>({ kind: 'PriorityClass', name });
  return stored ?? SYSTEM_PRIORITY_CLASSES.find((c) => c.metadata.name === name);
}

async function globalDefault(deps: Deps): Promise<PriorityClass | undefined> {
  const { items } = await deps.store.list<PriorityClass>('PriorityClass');
  let chosen: PriorityClass | undefined;
  for (const c of items) if (c.globalDefault && (!chosen || c.value < chosen.value)) chosen = c;
  return chosen;
}
