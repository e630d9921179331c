/**
 * The resource metrics API's paths (metrics.k8s.io/v1beta1, as metrics-server serves them) and
 * its discovery documents, so `kubectl top pod` and `kubectl top node` find it:
 * `/apis/metrics.k8s.io/v1beta1/nodes[/{name}]`, `.../pods` (every namespace) and
 * `.../namespaces/{ns}/pods[/{name}]`. GET only; served by metrics-api.ts.
 */
export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';

export interface MetricsRoute {
  type: 'resource-metrics';
  resource: 'nodes' | 'pods';
  namespace?: string;
  name?: string;
}

/** The route for the parts after `/apis/metrics.k8s.io/v1beta1`, undefined when it is none. */
export function metricsRoute(rest: string[]): MetricsRoute | undefined {
  const [a, b, c, d, ...more] = rest;
  if (more.length > 0) return undefined;
  if (a === 'nodes' && c === undefined)
    return { type: 'resource-metrics', resource: 'nodes', ...(b ? { name: b } : {}) };
  if (a === 'pods' && b === undefined) return { type: 'resource-metrics', resource: 'pods' };
  if (a === 'namespaces' && b && c === 'pods')
    return { type: 'resource-metrics', resource: 'pods', namespace: b, ...(d ? { name: d } : {}) };
  return undefined;
}

export function metricsGroup(): object {
  const version = { groupVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, version: METRICS_VERSION };
  return { name: METRICS_GROUP, versions: [version], preferredVersion: version };
}

export function metricsResourceList(): object {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${METRICS_GROUP}/${METRICS_VERSION}`,
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  };
}
