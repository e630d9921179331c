/**
 * apps/v1 DaemonSet: one pod per eligible node (https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/).
 * ferry keeps no ControllerRevisions, so `revisionHistoryLimit` bounds a history that is always
 * empty; `kubectl rollout history daemonset` has nothing to show.
 */
import { type Static, Type } from 'typebox';
import { Enum, Int, Int64, IntOrString, Obj, Opt } from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema } from './meta';
import { PodTemplateSpecSchema } from './pod';

export const DaemonSetUpdateStrategySchema = Obj({
  type: Opt(Enum(['RollingUpdate', 'OnDelete'] as const)),
  rollingUpdate: Opt(Obj({ maxUnavailable: Opt(IntOrString()), maxSurge: Opt(IntOrString()) })),
});

export const DaemonSetSpecSchema = Obj({
  selector: LabelSelectorSchema,
  template: PodTemplateSpecSchema,
  updateStrategy: Opt(DaemonSetUpdateStrategySchema),
  minReadySeconds: Opt(Int({ minimum: 0 })),
  revisionHistoryLimit: Opt(Int({ minimum: 0 })),
});

export const DaemonSetStatusSchema = Obj({
  currentNumberScheduled: Int(),
  numberMisscheduled: Int(),
  desiredNumberScheduled: Int(),
  numberReady: Int(),
  observedGeneration: Opt(Int64()),
  updatedNumberScheduled: Opt(Int()),
  numberAvailable: Opt(Int()),
  numberUnavailable: Opt(Int()),
  collisionCount: Opt(Int()),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const DaemonSetSchema = Obj({
  ...envelope('apps/v1', 'DaemonSet'),
  spec: DaemonSetSpecSchema,
  status: Opt(DaemonSetStatusSchema),
});

export type DaemonSetSpec = Static<typeof DaemonSetSpecSchema>;
export type DaemonSetStatus = Static<typeof DaemonSetStatusSchema>;
export type DaemonSet = Kind<Static<typeof DaemonSetSchema>>;
