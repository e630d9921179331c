/**
 * autoscaling/v2 HorizontalPodAutoscaler
 * (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/):
 * keeps a Deployment's, ReplicaSet's or StatefulSet's replicas where its pods' CPU or memory use
 * meets a target, within bounds and at the pace `behavior` allows (functions/controllers/hpa*).
 *
 * Metric sources ferry cannot feed (Pods, Object, External: they need a custom or external
 * metrics API) are in the schema so that a manifest using them gets the 422 of the rule that
 * names them (rules/autoscaling.ts), not an "unknown field". The autoscaling/v1 form is a view
 * of this one (autoscaling-v1.ts).
 */
import { type Static, Type } from 'typebox';
import { Enum, Free, Int, Int64, Obj, Opt, Quantity, Str, Time } from './dsl';
import { ConditionSchema, envelope, type Kind } from './meta';

export const HPA_KIND = 'HorizontalPodAutoscaler';
export const METRIC_TYPES = ['Resource', 'ContainerResource', 'Pods', 'Object', 'External'] as const;
/** The metric sources ferry serves: the resource metrics API (metrics.k8s.io) only. */
export const SUPPORTED_METRIC_TYPES = ['Resource', 'ContainerResource'] as const;
/** The resources the nodes report usage of. */
export const METRIC_RESOURCES = ['cpu', 'memory'] as const;
/** The kinds with a `scale` subresource an HPA may target (all apps/v1). */
export const SCALE_TARGET_KINDS = ['Deployment', 'ReplicaSet', 'StatefulSet'] as const;

const CrossVersionObjectReference = Obj({ apiVersion: Opt(Str()), kind: Str(), name: Str() });

export const MetricTargetSchema = Obj({
  type: Enum(['Utilization', 'Value', 'AverageValue'] as const),
  averageUtilization: Opt(Int()),
  averageValue: Opt(Quantity()),
  value: Opt(Quantity()),
});

const ResourceMetricSource = Obj({ name: Str(), target: MetricTargetSchema });
const ContainerResourceMetricSource = Obj({ name: Str(), container: Str(), target: MetricTargetSchema });

export const MetricSpecSchema = Obj({
  type: Enum(METRIC_TYPES),
  resource: Opt(ResourceMetricSource),
  containerResource: Opt(ContainerResourceMetricSource),
  pods: Opt(Free()),
  object: Opt(Free()),
  external: Opt(Free()),
});

export const HPAScalingPolicySchema = Obj({
  type: Enum(['Pods', 'Percent'] as const),
  value: Int(),
  periodSeconds: Int(),
});

export const HPAScalingRulesSchema = Obj({
  stabilizationWindowSeconds: Opt(Int()),
  selectPolicy: Opt(Enum(['Max', 'Min', 'Disabled'] as const)),
  policies: Opt(Type.Array(HPAScalingPolicySchema, { maxItems: 100 })),
  /** Kubernetes 1.33's configurable tolerance (alpha): refused by the rule, as its gate is off there. */
  tolerance: Opt(Quantity()),
});

export const HorizontalPodAutoscalerSpecSchema = Obj({
  scaleTargetRef: CrossVersionObjectReference,
  minReplicas: Opt(Int()),
  maxReplicas: Int(),
  metrics: Opt(Type.Array(MetricSpecSchema, { maxItems: 100 })),
  behavior: Opt(Obj({ scaleUp: Opt(HPAScalingRulesSchema), scaleDown: Opt(HPAScalingRulesSchema) })),
});

const MetricValueStatus = Obj({
  averageUtilization: Opt(Int()),
  averageValue: Opt(Quantity()),
  value: Opt(Quantity()),
});

export const MetricStatusSchema = Obj({
  type: Enum(METRIC_TYPES),
  resource: Opt(Obj({ name: Str(), current: MetricValueStatus })),
  containerResource: Opt(Obj({ name: Str(), container: Str(), current: MetricValueStatus })),
  pods: Opt(Free()),
  object: Opt(Free()),
  external: Opt(Free()),
});

export const HorizontalPodAutoscalerStatusSchema = Obj({
  observedGeneration: Opt(Int64()),
  lastScaleTime: Opt(Time()),
  currentReplicas: Opt(Int()),
  desiredReplicas: Int(),
  currentMetrics: Opt(Type.Array(MetricStatusSchema)),
  conditions: Opt(Type.Array(ConditionSchema)),
});

export const HorizontalPodAutoscalerSchema = Obj({
  ...envelope('autoscaling/v2', HPA_KIND),
  spec: HorizontalPodAutoscalerSpecSchema,
  status: Opt(HorizontalPodAutoscalerStatusSchema),
});

/** Kubernetes' defaults (pkg/apis/autoscaling/v2/defaults.go): scale up fast, scale down after 5 minutes. */
export const DEFAULT_SCALE_UP: HPAScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: HPAScalingRules = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};
/** An HPA without metrics targets 80% CPU utilization (Kubernetes' default). */
export const DEFAULT_CPU_UTILIZATION = 80;

export type MetricTarget = Static<typeof MetricTargetSchema>;
export type MetricSpec = Static<typeof MetricSpecSchema>;
export type MetricStatus = Static<typeof MetricStatusSchema>;
export type HPAScalingPolicy = Static<typeof HPAScalingPolicySchema>;
export type HPAScalingRules = Static<typeof HPAScalingRulesSchema>;
export type HorizontalPodAutoscalerSpec = Static<typeof HorizontalPodAutoscalerSpecSchema>;
export type HorizontalPodAutoscalerStatus = Static<typeof HorizontalPodAutoscalerStatusSchema>;
export type HorizontalPodAutoscaler = Kind<Static<typeof HorizontalPodAutoscalerSchema>>;

/**
 * Kubernetes' defaulting of an HPA spec, in place: minReplicas 1, one CPU metric at 80% when
 * none is given, and, when `behavior` is given, every rule it leaves out.
 */
export function defaultHpaSpec(spec: Record<string, unknown>): void {
  spec.minReplicas ??= 1;
  if (!Array.isArray(spec.metrics) || spec.metrics.length === 0)
    spec.metrics = [
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION } },
      },
    ];
  const behavior = spec.behavior;
  if (typeof behavior !== 'object' || behavior === null || Array.isArray(behavior)) return;
  const b = behavior as Record<string, unknown>;
  b.scaleUp = withDefaults(b.scaleUp, DEFAULT_SCALE_UP);
  b.scaleDown = withDefaults(b.scaleDown, DEFAULT_SCALE_DOWN);
}

function withDefaults(given: unknown, defaults: HPAScalingRules): unknown {
  if (given === undefined) return structuredClone(defaults);
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return given;
  const rules = given as Record<string, unknown>;
  rules.stabilizationWindowSeconds ??= defaults.stabilizationWindowSeconds;
  rules.selectPolicy ??= defaults.selectPolicy;
  rules.policies ??= structuredClone(defaults.policies);
  return rules;
}
