/**
 * policy/v1 PodDisruptionBudget (https://kubernetes.io/docs/concepts/workloads/pods/disruptions/):
 * how many of a set of pods may be down at once by choice (an eviction, a drain), kept in
 * `status` by the disruption controller and spent by the Eviction subresource (eviction.ts).
 */
import { type Static, Type } from 'typebox';
import { Enum, Int, Int64, IntOrString, Obj, Opt, Time } from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema } from './meta';

export const PodDisruptionBudgetSpecSchema = Obj({
  minAvailable: Opt(IntOrString()),
  maxUnavailable: Opt(IntOrString()),
  selector: Opt(LabelSelectorSchema),
  unhealthyPodEvictionPolicy: Opt(Enum(['IfHealthyBudget', 'AlwaysAllow'] as const)),
});

export const PodDisruptionBudgetStatusSchema = Obj({
  observedGeneration: Opt(Int64()),
  /** Pods evicted whose deletion the disruption controller has not yet seen, with when. */
  disruptedPods: Opt(Type.Record(Type.String(), Time())),
  disruptionsAllowed: Int(),
  currentHealthy: Int(),
  desiredHealthy: Int(),
  expectedPods: Int(),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const PodDisruptionBudgetSchema = Obj({
  ...envelope('policy/v1', 'PodDisruptionBudget'),
  spec: Opt(PodDisruptionBudgetSpecSchema),
  status: Opt(PodDisruptionBudgetStatusSchema),
});

/** The one condition the disruption controller keeps, and its reasons (Kubernetes' own). */
export const DISRUPTION_ALLOWED_CONDITION = 'DisruptionAllowed';
export const PDB_CAUSE_TYPE = 'DisruptionBudget';

export type PodDisruptionBudgetSpec = Static<typeof PodDisruptionBudgetSpecSchema>;
export type PodDisruptionBudgetStatus = Static<typeof PodDisruptionBudgetStatusSchema>;
export type PodDisruptionBudget = Kind<Static<typeof PodDisruptionBudgetSchema>>;
