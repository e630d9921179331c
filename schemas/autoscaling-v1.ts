/**
 * autoscaling/v1 HorizontalPodAutoscaler as a view of the stored autoscaling/v2 object, as
 * Kubernetes converts them (pkg/apis/autoscaling/v1/conversion.go): v1 has one CPU target,
 * `targetCPUUtilizationPercentage`, and `status.currentCPUUtilizationPercentage`; what v2 has
 * beyond that travels in annotations (`autoscaling.alpha.kubernetes.io/metrics`, `behavior`,
 * `conditions`, `current-metrics`), so a v1 client that reads, edits and writes back an HPA
 * loses nothing. `kubectl autoscale` (1.32) writes v1.
 */
import type { HorizontalPodAutoscaler, MetricSpec, MetricStatus } from './autoscaling';
import { isRec, type Rec } from './tree';

export const ANNOTATION = {
  metrics: 'autoscaling.alpha.kubernetes.io/metrics',
  behavior: 'autoscaling.alpha.kubernetes.io/behavior',
  conditions: 'autoscaling.alpha.kubernetes.io/conditions',
  currentMetrics: 'autoscaling.alpha.kubernetes.io/current-metrics',
} as const;

function isCpuUtilization(m: MetricSpec): boolean {
  return m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.target.type === 'Utilization';
}

/** The v1 view of a stored (v2) HPA. */
export function hpaToV1(obj: HorizontalPodAutoscaler): Rec {
  const { metrics = [], behavior, ...spec } = obj.spec;
  const cpu = metrics.find(isCpuUtilization);
  const others = metrics.filter((m) => m !== cpu);
  const annotations: Record<string, string> = { ...obj.metadata.annotations };
  if (others.length) annotations[ANNOTATION.metrics] = JSON.stringify(others);
  if (behavior) annotations[ANNOTATION.behavior] = JSON.stringify(behavior);
  const status = obj.status;
  const currentCpu = status?.currentMetrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
  const otherCurrent = (status?.currentMetrics ?? []).filter((m) => m !== currentCpu);
  if (otherCurrent.length) annotations[ANNOTATION.currentMetrics] = JSON.stringify(otherCurrent);
  if (status?.conditions?.length) annotations[ANNOTATION.conditions] = JSON.stringify(status.conditions);
  const utilization = cpu?.resource?.target.averageUtilization;
  const current = currentCpu?.resource?.current.averageUtilization;
  return {
    apiVersion: 'autoscaling/v1',
    kind: obj.kind,
    metadata: { ...obj.metadata, ...(Object.keys(annotations).length ? { annotations } : {}) },
    spec: { ...spec, ...(utilization !== undefined ? { targetCPUUtilizationPercentage: utilization } : {}) },
    ...(status
      ? {
          status: {
            ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
            ...(status.lastScaleTime ? { lastScaleTime: status.lastScaleTime } : {}),
            currentReplicas: status.currentReplicas ?? 0,
            desiredReplicas: status.desiredReplicas,
            ...(current !== undefined ? { currentCPUUtilizationPercentage: current } : {}),
          },
        }
      : {}),
  };
}

/**
 * A v1 body as the v2 object to store; other shapes are returned as they are, for validation to
 * refuse. Annotations written by hpaToV1 are taken back into the spec (status is the
 * controller's: its annotations are dropped).
 */
export function hpaFromV1(body: unknown): unknown {
  if (!isRec(body) || body.apiVersion !== 'autoscaling/v1' || !isRec(body.spec)) return body;
  const meta = isRec(body.metadata) ? { ...body.metadata } : {};
  const annotations = isRec(meta.annotations) ? { ...(meta.annotations as Record<string, unknown>) } : undefined;
  const take = (key: string): unknown => {
    const raw = annotations?.[key];
    if (annotations) delete annotations[key];
    if (typeof raw !== 'string') return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      return undefined;
    }
  };
  const others = take(ANNOTATION.metrics);
  const behavior = take(ANNOTATION.behavior);
  take(ANNOTATION.conditions);
  take(ANNOTATION.currentMetrics);
  if (annotations) {
    if (Object.keys(annotations).length) meta.annotations = annotations;
    else delete meta.annotations;
  }
  const { targetCPUUtilizationPercentage: cpu, ...spec } = body.spec;
  const metrics: unknown[] = [];
  if (cpu !== undefined)
    metrics.push({
      type: 'Resource',
      resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpu } },
    });
  if (Array.isArray(others)) metrics.push(...others);
  const status = isRec(body.status) ? body.status : undefined;
  return {
    ...body,
    apiVersion: 'autoscaling/v2',
    metadata: meta,
    spec: { ...spec, ...(metrics.length ? { metrics } : {}), ...(behavior !== undefined ? { behavior } : {}) },
    ...(status ? { status: v2Status(status) } : {}),
  };
}

function v2Status(status: Rec): Rec {
  const { currentCPUUtilizationPercentage: cpu, ...rest } = status;
  const currentMetrics: MetricStatus[] =
    typeof cpu === 'number'
      ? [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: cpu } } }]
      : [];
  return { ...rest, ...(currentMetrics.length ? { currentMetrics } : {}) };
}
