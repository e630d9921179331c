/**
 * core/v1 Affinity (node affinity, pod affinity and anti-affinity) and TopologySpreadConstraint,
 * as Kubernetes types them. The scheduler honours every field here
 * (`functions/scheduler/affinity.ts`); fields it does not yet honour (`namespaceSelector`,
 * `matchLabelKeys`, `mismatchLabelKeys`) are left out, so a manifest using them is refused with a
 * 422 naming the field instead of being stored and ignored.
 */
import { type Static, Type } from 'typebox';
import { Enum, Int, Obj, Opt, Str } from './dsl';
import { LabelSelectorSchema } from './meta';

const INT32_MAX = 2_147_483_647;

export const NodeSelectorRequirementSchema = Obj({
  key: Str({ maxLength: 316 }),
  operator: Enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
  values: Opt(Type.Array(Str({ maxLength: 63 }))),
});

export const NodeSelectorTermSchema = Obj({
  matchExpressions: Opt(Type.Array(NodeSelectorRequirementSchema)),
  /** Only `metadata.name`, as in Kubernetes. */
  matchFields: Opt(Type.Array(NodeSelectorRequirementSchema)),
});

export const NodeAffinitySchema = Obj({
  requiredDuringSchedulingIgnoredDuringExecution: Opt(
    Obj({ nodeSelectorTerms: Type.Array(NodeSelectorTermSchema, { minItems: 1 }) }),
  ),
  preferredDuringSchedulingIgnoredDuringExecution: Opt(
    Type.Array(Obj({ weight: Int({ minimum: 1, maximum: 100 }), preference: NodeSelectorTermSchema })),
  ),
});

export const PodAffinityTermSchema = Obj({
  labelSelector: Opt(LabelSelectorSchema),
  /** Empty or absent: the pod's own namespace. */
  namespaces: Opt(Type.Array(Str({ maxLength: 63 }))),
  topologyKey: Str({ maxLength: 316 }),
});

const WeightedPodAffinityTermSchema = Obj({
  weight: Int({ minimum: 1, maximum: 100 }),
  podAffinityTerm: PodAffinityTermSchema,
});

export const PodAffinitySchema = Obj({
  requiredDuringSchedulingIgnoredDuringExecution: Opt(Type.Array(PodAffinityTermSchema)),
  preferredDuringSchedulingIgnoredDuringExecution: Opt(Type.Array(WeightedPodAffinityTermSchema)),
});

export const AffinitySchema = Obj({
  nodeAffinity: Opt(NodeAffinitySchema),
  podAffinity: Opt(PodAffinitySchema),
  podAntiAffinity: Opt(PodAffinitySchema),
});

export const TopologySpreadConstraintSchema = Obj({
  maxSkew: Int({ minimum: 1, maximum: INT32_MAX }),
  topologyKey: Str({ maxLength: 316 }),
  whenUnsatisfiable: Enum(['DoNotSchedule', 'ScheduleAnyway']),
  labelSelector: Opt(LabelSelectorSchema),
  minDomains: Opt(Int({ minimum: 1, maximum: INT32_MAX })),
  nodeAffinityPolicy: Opt(Enum(['Honor', 'Ignore'])),
  nodeTaintsPolicy: Opt(Enum(['Honor', 'Ignore'])),
});

export type NodeSelectorRequirement = Static<typeof NodeSelectorRequirementSchema>;
export type NodeSelectorTerm = Static<typeof NodeSelectorTermSchema>;
export type PodAffinityTerm = Static<typeof PodAffinityTermSchema>;
export type Affinity = Static<typeof AffinitySchema>;
export type TopologySpreadConstraint = Static<typeof TopologySpreadConstraintSchema>;
