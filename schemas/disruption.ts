/**
 * policy/v1 PodDisruptionBudget and the Eviction a client POSTs to `pods/NAME/eviction`
 * (https://kubernetes.io/docs/concepts/workloads/pods/disruptions/). An Eviction is never stored:
 * its schema validates the request body (policy/v1 and policy/v1beta1 have the same shape).
 */
import { type Static, Type } from 'typebox';
import { Bool, Enum, Int, Int64, IntOrString, Obj, Opt, Str, Time } from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema, ObjectMetaSchema } from './meta';

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

export const EvictionSchema = Obj({
  apiVersion: Opt(Enum(['policy/v1', 'policy/v1beta1'] as const)),
  kind: Opt(Type.Literal('Eviction')),
  metadata: ObjectMetaSchema,
  deleteOptions: Opt(
    Obj({
      apiVersion: Opt(Str()),
      kind: Opt(Type.Literal('DeleteOptions')),
      gracePeriodSeconds: Opt(Int64({ minimum: 0 })),
      preconditions: Opt(Obj({ uid: Opt(Str()), resourceVersion: Opt(Str()) })),
      propagationPolicy: Opt(Enum(['Orphan', 'Background', 'Foreground'] as const)),
      orphanDependents: Opt(Bool()),
      dryRun: Opt(Type.Array(Enum(['All'] as const))),
    }),
  ),
});

/** The one condition the disruption controller keeps, and its reasons (Kubernetes' own). */
export const DISRUPTION_ALLOWED_CONDITION = 'DisruptionAllowed';
export const PDB_CAUSE_TYPE = 'DisruptionBudget';

export type PodDisruptionBudgetSpec = Static<typeof PodDisruptionBudgetSpecSchema>;
export type PodDisruptionBudgetStatus = Static<typeof PodDisruptionBudgetStatusSchema>;
export type PodDisruptionBudget = Kind<Static<typeof PodDisruptionBudgetSchema>>;
export type Eviction = Static<typeof EvictionSchema>;
