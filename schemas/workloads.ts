/** apps/v1 Deployment and ReplicaSet. */
import { type Static, Type } from 'typebox';
import { Bool, Enum, Free, Int, Int64, IntOrString, Obj, Opt } from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema, ObjectMetaSchema } from './meta';
import { PodTemplateSpecSchema } from './pod';

/** Names the deployment controller, the API's rollback and `ferry rollout` agree on (Kubernetes' own). */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

export const DeploymentStrategySchema = Obj({
  type: Opt(Enum(['RollingUpdate', 'Recreate'] as const)),
  rollingUpdate: Opt(Obj({ maxSurge: Opt(IntOrString()), maxUnavailable: Opt(IntOrString()) })),
});

export const DeploymentSpecSchema = Obj({
  replicas: Opt(Int({ minimum: 0 })),
  selector: LabelSelectorSchema,
  template: PodTemplateSpecSchema,
  strategy: Opt(DeploymentStrategySchema),
  minReadySeconds: Opt(Int({ minimum: 0 })),
  revisionHistoryLimit: Opt(Int({ minimum: 0 })),
  paused: Opt(Bool()),
  progressDeadlineSeconds: Opt(Int({ minimum: 1 })),
});

export const DeploymentStatusSchema = Obj({
  observedGeneration: Opt(Int64()),
  replicas: Opt(Int()),
  updatedReplicas: Opt(Int()),
  readyReplicas: Opt(Int()),
  availableReplicas: Opt(Int()),
  unavailableReplicas: Opt(Int()),
  terminatingReplicas: Opt(Int()),
  collisionCount: Opt(Int()),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const DeploymentSchema = Obj({
  ...envelope('apps/v1', 'Deployment'),
  spec: DeploymentSpecSchema,
  status: Opt(DeploymentStatusSchema),
});

export const ReplicaSetSpecSchema = Obj({
  replicas: Opt(Int({ minimum: 0 })),
  selector: LabelSelectorSchema,
  template: Opt(PodTemplateSpecSchema),
  minReadySeconds: Opt(Int({ minimum: 0 })),
});

export const ReplicaSetStatusSchema = Obj({
  replicas: Int(),
  fullyLabeledReplicas: Opt(Int()),
  readyReplicas: Opt(Int()),
  availableReplicas: Opt(Int()),
  terminatingReplicas: Opt(Int()),
  observedGeneration: Opt(Int64()),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const ReplicaSetSchema = Obj({
  ...envelope('apps/v1', 'ReplicaSet'),
  spec: ReplicaSetSpecSchema,
  status: Opt(ReplicaSetStatusSchema),
});

export type DeploymentStrategy = Static<typeof DeploymentStrategySchema>;
export type DeploymentSpec = Static<typeof DeploymentSpecSchema>;
export type DeploymentStatus = Static<typeof DeploymentStatusSchema>;
export type Deployment = Kind<Static<typeof DeploymentSchema>>;
export type ReplicaSetSpec = Static<typeof ReplicaSetSpecSchema>;
export type ReplicaSetStatus = Static<typeof ReplicaSetStatusSchema>;
export type ReplicaSet = Kind<Static<typeof ReplicaSetSchema>>;

/** batch/v1 Job: pods run to completion (`completions` successes, `parallelism` at a time). */
export const JobSpecSchema = Obj({
  parallelism: Opt(Int({ minimum: 0 })),
  completions: Opt(Int({ minimum: 0 })),
  backoffLimit: Opt(Int({ minimum: 0 })),
  activeDeadlineSeconds: Opt(Int64({ minimum: 1 })),
  ttlSecondsAfterFinished: Opt(Int({ minimum: 0 })),
  completionMode: Opt(Enum(['NonIndexed', 'Indexed'] as const)),
  // Valid Kubernetes fields the job controller does not run yet: accepted by the schema so the
  // rule (rules/workloads.ts) refuses them with "ferry does not support ... yet", not "unknown".
  podFailurePolicy: Opt(Free()),
  backoffLimitPerIndex: Opt(Int({ minimum: 0 })),
  maxFailedIndexes: Opt(Int({ minimum: 0 })),
  successPolicy: Opt(Free()),
  podReplacementPolicy: Opt(Enum(['TerminatingOrFailed', 'Failed'] as const)),
  suspend: Opt(Bool()),
  selector: Opt(LabelSelectorSchema),
  manualSelector: Opt(Bool()),
  template: PodTemplateSpecSchema,
});

export const JobStatusSchema = Obj({
  startTime: Opt(Type.String()),
  completionTime: Opt(Type.String()),
  active: Opt(Int()),
  succeeded: Opt(Int()),
  failed: Opt(Int()),
  ready: Opt(Int()),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const JobSchema = Obj({
  ...envelope('batch/v1', 'Job'),
  spec: JobSpecSchema,
  status: Opt(JobStatusSchema),
});

export type JobSpec = Static<typeof JobSpecSchema>;
export type JobStatus = Static<typeof JobStatusSchema>;
export type Job = Kind<Static<typeof JobSchema>>;

/** batch/v1 CronJob: a Job from `jobTemplate` at each time of `schedule` (5-field cron, or @hourly ...). */
export const CronJobSpecSchema = Obj({
  schedule: Type.String({ minLength: 1, maxLength: 256 }),
  timeZone: Opt(Type.String({ maxLength: 64 })),
  startingDeadlineSeconds: Opt(Int64({ minimum: 0 })),
  concurrencyPolicy: Opt(Enum(['Allow', 'Forbid', 'Replace'] as const)),
  suspend: Opt(Bool()),
  successfulJobsHistoryLimit: Opt(Int({ minimum: 0 })),
  failedJobsHistoryLimit: Opt(Int({ minimum: 0 })),
  jobTemplate: Obj({ metadata: Opt(ObjectMetaSchema), spec: JobSpecSchema }),
});

export const CronJobStatusSchema = Obj({
  active: Opt(
    Type.Array(
      Obj({
        apiVersion: Opt(Type.String()),
        kind: Opt(Type.String()),
        name: Opt(Type.String()),
        namespace: Opt(Type.String()),
        uid: Opt(Type.String()),
      }),
    ),
  ),
  lastScheduleTime: Opt(Type.String()),
  lastSuccessfulTime: Opt(Type.String()),
});

export const CronJobSchema = Obj({
  ...envelope('batch/v1', 'CronJob'),
  spec: CronJobSpecSchema,
  status: Opt(CronJobStatusSchema),
});

export type CronJob = Kind<Static<typeof CronJobSchema>>;
