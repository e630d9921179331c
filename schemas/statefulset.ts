/**
 * apps/v1 StatefulSet: pods with stable names `NAME-0..N-1`, one PersistentVolumeClaim per pod and
 * claim template, ordered or parallel creation, rolling updates from the highest ordinal down to a
 * partition. Run by functions/controllers/statefulset.ts.
 */
import { type Static, Type } from 'typebox';
import { Enum, Free, Int, Int64, IntOrString, Obj, Opt, Str } from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema, ObjectMetaSchema } from './meta';
import { PodTemplateSpecSchema } from './pod';
import { PersistentVolumeClaimSpecSchema } from './storage';

/** Kubernetes' pod labels for a StatefulSet's pods (pkg/apis/apps/types.go). */
export const STS_POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const STS_POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';

const Retention = () => Opt(Enum(['Retain', 'Delete'] as const));

export const StatefulSetSpecSchema = Obj({
  replicas: Opt(Int({ minimum: 0 })),
  selector: LabelSelectorSchema,
  template: PodTemplateSpecSchema,
  serviceName: Opt(Str({ maxLength: 63 })),
  volumeClaimTemplates: Opt(
    Type.Array(
      Obj({
        apiVersion: Opt(Str()),
        kind: Opt(Str()),
        metadata: ObjectMetaSchema,
        spec: PersistentVolumeClaimSpecSchema,
      }),
    ),
  ),
  podManagementPolicy: Opt(Enum(['OrderedReady', 'Parallel'] as const)),
  updateStrategy: Opt(
    Obj({
      type: Opt(Enum(['RollingUpdate', 'OnDelete'] as const)),
      rollingUpdate: Opt(Obj({ partition: Opt(Int({ minimum: 0 })), maxUnavailable: Opt(IntOrString()) })),
    }),
  ),
  revisionHistoryLimit: Opt(Int({ minimum: 0 })),
  minReadySeconds: Opt(Int({ minimum: 0 })),
  persistentVolumeClaimRetentionPolicy: Opt(Obj({ whenDeleted: Retention(), whenScaled: Retention() })),
  ordinals: Opt(Obj({ start: Opt(Int({ minimum: 0 })) })),
});

export const StatefulSetStatusSchema = Obj({
  observedGeneration: Opt(Int64()),
  replicas: Opt(Int()),
  readyReplicas: Opt(Int()),
  currentReplicas: Opt(Int()),
  updatedReplicas: Opt(Int()),
  availableReplicas: Opt(Int()),
  currentRevision: Opt(Str()),
  updateRevision: Opt(Str()),
  collisionCount: Opt(Int()),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const StatefulSetSchema = Obj({
  ...envelope('apps/v1', 'StatefulSet'),
  spec: StatefulSetSpecSchema,
  status: Opt(StatefulSetStatusSchema),
});

export type StatefulSetSpec = Static<typeof StatefulSetSpecSchema>;
export type StatefulSetStatus = Static<typeof StatefulSetStatusSchema>;
export type StatefulSet = Kind<Static<typeof StatefulSetSchema>>;

/**
 * apps/v1 ControllerRevision: one per distinct pod template a StatefulSet has had (`data` holds
 * `{ spec: { template } }`), so a pod below the partition, deleted, comes back at its old revision.
 */
export const ControllerRevisionSchema = Obj({
  ...envelope('apps/v1', 'ControllerRevision'),
  data: Opt(Free()),
  revision: Int64({ minimum: 0 }),
});
export type ControllerRevision = Kind<Static<typeof ControllerRevisionSchema>>;
