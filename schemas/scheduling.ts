/**
 * scheduling.k8s.io/v1 PriorityClass: a name for a pod priority
 * (https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/). A pod's
 * `priorityClassName` is resolved to `spec.priority` and `spec.preemptionPolicy` when it is
 * created (functions/admission/priority.ts); the scheduler takes higher priorities first. The two
 * built-in classes exist in every cluster, as kube-apiserver creates them.
 */
import type { Static } from 'typebox';
import { Bool, Enum, Int, Obj, Opt, Str } from './dsl';
import { envelope, type Kind } from './meta';

export const PREEMPTION_POLICIES = ['PreemptLowerPriority', 'Never'] as const;
export type PreemptionPolicy = (typeof PREEMPTION_POLICIES)[number];

export const PriorityClassSchema = Obj({
  ...envelope('scheduling.k8s.io/v1', 'PriorityClass'),
  value: Int(),
  globalDefault: Opt(Bool()),
  description: Opt(Str({ maxLength: 1024 })),
  preemptionPolicy: Opt(Enum(PREEMPTION_POLICIES)),
});

export type PriorityClass = Kind<Static<typeof PriorityClassSchema>>;

/** The highest value a user's class may have (Kubernetes' HighestUserDefinablePriority). */
export const HIGHEST_USER_PRIORITY = 1_000_000_000;
/** Names with this prefix are the built-ins' (Kubernetes' SystemPriorityClassPrefix). */
export const SYSTEM_PRIORITY_PREFIX = 'system-';

/** Kubernetes' built-in classes (pkg/apis/scheduling/types.go), with their values. */
export const SYSTEM_PRIORITY_CLASSES: readonly PriorityClass[] = [
  builtIn(
    'system-node-critical',
    2_000_001_000,
    'Used for system critical pods that must not be moved from their current node.',
  ),
  builtIn(
    'system-cluster-critical',
    2_000_000_000,
    'Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.',
  ),
];

function builtIn(name: string, value: number, description: string): PriorityClass {
  return {
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name },
    value,
    description,
    preemptionPolicy: 'PreemptLowerPriority',
  } as PriorityClass;
}
