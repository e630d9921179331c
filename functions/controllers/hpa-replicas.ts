/**
 * How many replicas one resource metric asks for: the Kubernetes HPA's replica calculator
 * (pkg/controller/podautoscaler/replica_calculator.go, GetResourceReplicas and
 * GetRawResourceReplicas), pure: pods and their usage in, a count or an error out.
 *
 * - ratio = current / target, of utilization (usage as a percentage of the pods' requests) or of
 *   the average value; within the 10% tolerance the count stays;
 * - pods being deleted or Failed are ignored; Pending pods and, for CPU, pods not yet Ready (or
 *   Ready for less than one metric window within their first 5 minutes) are "unready"; pods
 *   without a metric are "missing";
 * - with none of those: ceil(ratio x ready pods); otherwise, when scaling up unready pods count as
 *   0% use, missing pods as 0% when scaling up and as 100% of their request (or the target when
 *   above 100%) when scaling down, the ratio is taken again, and a change of direction (or a
 *   ratio within tolerance) keeps the count.
 * Values are in thousandths (millicores, milli-bytes), as Kubernetes' MilliValue.
 */

/** Kubernetes' --horizontal-pod-autoscaler-tolerance. */
export const TOLERANCE = 0.1;
/** --horizontal-pod-autoscaler-cpu-initialization-period and --...-initial-readiness-delay. */
export const CPU_INITIALIZATION_PERIOD_MS = 300_000;
export const INITIAL_READINESS_DELAY_MS = 30_000;

export interface PodSample {
  name: string;
  /** Deleting or Failed: ignored. */
  ignored: boolean;
  pending: boolean;
  /** The Ready condition, if any. */
  ready?: { status: string; lastTransitionTime: number };
  startTime?: number;
  /** The pod's request of the resource (thousandths), undefined when a container sets none. */
  request: number | undefined;
  /** A container without a request, for the error. */
  missingRequestIn?: string;
}

export interface PodMetric {
  value: number;
  timestamp: number;
  windowMs: number;
}

export type ReplicaResult =
  | { ok: true; replicas: number; utilization?: number; average: number }
  | { ok: false; error: string };

export interface Target {
  /** `Utilization`: percent of requests; `AverageValue`: thousandths per pod. */
  type: 'Utilization' | 'AverageValue';
  value: number;
}

const within = (ratio: number) => Math.abs(1 - ratio) <= TOLERANCE;

interface Groups {
  readyCount: number;
  unready: Set<string>;
  missing: Set<string>;
}

/** Kubernetes' groupPods. */
function group(
  pods: PodSample[],
  metrics: Map<string, PodMetric>,
  cpu: boolean,
  now: number,
): Groups & { ignored: Set<string> } {
  const out = { readyCount: 0, unready: new Set<string>(), missing: new Set<string>(), ignored: new Set<string>() };
  for (const pod of pods) {
    if (pod.ignored) {
      out.ignored.add(pod.name);
      continue;
    }
    if (pod.pending) {
      out.unready.add(pod.name);
      continue;
    }
    const metric = metrics.get(pod.name);
    if (!metric) {
      out.missing.add(pod.name);
      continue;
    }
    if (cpu) {
      let unready: boolean;
      if (!pod.ready || pod.startTime === undefined) unready = true;
      else if (pod.startTime + CPU_INITIALIZATION_PERIOD_MS > now)
        // Within its first minutes a pod's CPU (startup work) counts only once it has been Ready a whole window.
        unready = pod.ready.status === 'False' || metric.timestamp < pod.ready.lastTransitionTime + metric.windowMs;
      else
        unready =
          pod.ready.status === 'False' && pod.startTime + INITIAL_READINESS_DELAY_MS > pod.ready.lastTransitionTime;
      if (unready) {
        out.unready.add(pod.name);
        continue;
      }
    }
    out.readyCount++;
  }
  return out;
}

/**
 * The replicas a resource metric asks for. `metrics` by pod name; `cpu` turns on the readiness
 * rules Kubernetes applies to CPU only.
 */
export function resourceReplicas(
  current: number,
  target: Target,
  pods: PodSample[],
  given: Map<string, PodMetric>,
  cpu: boolean,
  resource: string,
  now: number,
): ReplicaResult {
  if (given.size === 0)
    return {
      ok: false,
      error: `unable to get metrics for resource ${resource}: no metrics returned from resource metrics API`,
    };
  if (pods.length === 0) return { ok: false, error: 'no pods returned by selector while calculating replica count' };
  const metrics = new Map(given);
  const groups = group(pods, metrics, cpu, now);
  for (const name of [...groups.ignored, ...groups.unready]) metrics.delete(name);
  if (metrics.size === 0)
    return { ok: false, error: 'did not receive metrics for targeted pods (pods might be unready)' };

  const requests = new Map<string, number>();
  if (target.type === 'Utilization') {
    for (const pod of pods) {
      if (pod.request === undefined)
        return {
          ok: false,
          error: `missing request for ${resource} in container ${pod.missingRequestIn ?? '?'} of Pod ${pod.name}`,
        };
      requests.set(pod.name, pod.request);
    }
  }
  const ratioOf = (m: Map<string, PodMetric>) =>
    target.type === 'Utilization' ? utilizationRatio(m, requests, target.value) : averageRatio(m, target.value);
  const first = ratioOf(metrics);
  if ('error' in first) return { ok: false, error: first.error };
  const result = (replicas: number): ReplicaResult => ({
    ok: true,
    replicas,
    average: first.average,
    ...(first.utilization !== undefined ? { utilization: first.utilization } : {}),
  });

  const scaleUpWithUnready = groups.unready.size > 0 && first.ratio > 1;
  if (!scaleUpWithUnready && groups.missing.size === 0) {
    if (within(first.ratio)) return result(current);
    return result(Math.ceil(first.ratio * groups.readyCount));
  }
  for (const name of groups.missing) {
    const request = requests.get(name) ?? 0;
    let value = 0;
    // Scaling down: a pod we cannot see is assumed busy (its request, or the target above 100%).
    if (first.ratio < 1)
      value = target.type === 'Utilization' ? (request * Math.max(100, target.value)) / 100 : target.value;
    if (first.ratio !== 1) metrics.set(name, { value, timestamp: now, windowMs: 0 });
  }
  if (scaleUpWithUnready)
    for (const name of groups.unready) metrics.set(name, { value: 0, timestamp: now, windowMs: 0 });
  const second = ratioOf(metrics);
  if ('error' in second) return { ok: false, error: second.error };
  const r = second.ratio;
  if (within(r) || (first.ratio < 1 && r > 1) || (first.ratio > 1 && r < 1)) return result(current);
  const replicas = Math.ceil(r * metrics.size);
  if ((r < 1 && replicas > current) || (r > 1 && replicas < current)) return result(current);
  return result(replicas);
}

/** Kubernetes' GetResourceUtilizationRatio: integer percent of the requests, and the average use. */
function utilizationRatio(
  metrics: Map<string, PodMetric>,
  requests: Map<string, number>,
  target: number,
): { ratio: number; utilization: number; average: number } | { error: string } {
  let used = 0;
  let requested = 0;
  let entries = 0;
  for (const [name, m] of metrics) {
    const request = requests.get(name);
    if (request === undefined) continue;
    used += m.value;
    requested += request;
    entries++;
  }
  if (requested === 0) return { error: 'no metrics returned matched known pods' };
  const utilization = Math.trunc((used * 100) / requested);
  return { ratio: utilization / target, utilization, average: Math.trunc(used / entries) };
}

/** Kubernetes' GetMetricUsageRatio: the average per pod against the target average. */
function averageRatio(
  metrics: Map<string, PodMetric>,
  target: number,
): { ratio: number; average: number; utilization?: number } {
  let used = 0;
  for (const m of metrics.values()) used += m.value;
  const average = used / metrics.size;
  return { ratio: average / target, average: Math.trunc(average) };
}
