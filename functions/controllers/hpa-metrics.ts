/**
 * The HPA's inputs from the cluster: each target pod as the replica calculator sees it
 * (hpa-replicas.ts PodSample: phase, readiness, its request of a resource) and its usage from its
 * node's NodeUsage record (functions/node-usage.ts), as metrics-server would serve it: the pod's
 * containers summed (or the one a ContainerResource metric names), in thousandths.
 *
 * A pod's usage counts only from the record of the node it is bound to, with its uid (a node
 * reports for its own pods only), and only while the record is younger than USAGE_FRESH_MS
 * (metrics-server likewise stops serving a node it can no longer scrape).
 */
import { cpuMillis, type Pod } from '../../schemas';
import { findCondition } from '../../schemas/conditions';
import { type NodeUsage, USAGE_FRESH_MS, usageAgeMs } from '../node-usage';
import type { PodMetric, PodSample } from './hpa-replicas';

/** The containers a pod's metric covers: its app containers and native sidecars (Kubernetes 1.30). */
function containersOf(pod: Pod): { name: string; resources?: { requests?: Record<string, string | number> } }[] {
  const sidecars = (pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  return [...pod.spec.containers, ...sidecars] as {
    name: string;
    resources?: { requests?: Record<string, string | number> };
  }[];
}

export function podSample(pod: Pod, resource: string, container: string | undefined): PodSample {
  let request: number | undefined = 0;
  let missingRequestIn: string | undefined;
  for (const c of containersOf(pod)) {
    if (container !== undefined && c.name !== container) continue;
    const q = c.resources?.requests?.[resource];
    if (q === undefined) {
      request = undefined;
      missingRequestIn = c.name;
      break;
    }
    // Thousandths of the unit for both (millicores; milli-bytes), as Kubernetes' MilliValue.
    request += cpuMillis(q);
  }
  const ready = findCondition(pod, 'Ready');
  const phase = pod.status?.phase;
  const startTime = pod.status?.startTime;
  return {
    name: pod.metadata.name,
    ignored: pod.metadata.deletionTimestamp !== undefined || phase === 'Failed',
    pending: phase === undefined || phase === 'Pending' || !pod.spec.nodeName,
    ...(ready
      ? { ready: { status: ready.status, lastTransitionTime: Date.parse(ready.lastTransitionTime ?? '') || 0 } }
      : {}),
    ...(startTime ? { startTime: Date.parse(startTime) } : {}),
    request,
    ...(missingRequestIn !== undefined ? { missingRequestIn } : {}),
  };
}

/**
 * The pods' usage of `resource` by pod name, from their nodes' records. A ContainerResource metric
 * (`container`) takes that container only, and a pod without it has no metric.
 */
export function podMetrics(
  pods: Pod[],
  usage: Map<string, NodeUsage>,
  resource: string,
  container: string | undefined,
  now: number,
): Map<string, PodMetric> {
  const out = new Map<string, PodMetric>();
  for (const pod of pods) {
    const record = pod.spec.nodeName ? usage.get(pod.spec.nodeName) : undefined;
    if (!record || usageAgeMs(record, now) > USAGE_FRESH_MS) continue;
    const entry = record.spec.pods.find((p) => p.uid === pod.metadata.uid);
    if (!entry) continue;
    const containers = entry.containers.filter((c) => container === undefined || c.name === container);
    if (containers.length === 0) continue;
    const value = containers.reduce(
      (sum, c) => sum + (resource === 'cpu' ? c.cpuNanoCores / 1e6 : c.memoryBytes * 1000),
      0,
    );
    out.set(pod.metadata.name, {
      value: Math.round(value),
      timestamp: Date.parse(record.spec.timestamp),
      windowMs: record.spec.windowSeconds * 1000,
    });
  }
  return out;
}
