/**
 * The HorizontalPodAutoscaler controller, after Kubernetes' (pkg/controller/podautoscaler/
 * horizontal.go reconcileAutoscaler): every HPA_SYNC_MS per HPA,
 *
 * 1. read the target's scale (its `spec.replicas` and selector): AbleToScale False
 *    FailedGetScale when it is missing;
 * 2. outside min/maxReplicas, go straight to the bound; a target at 0 replicas is left alone
 *    (ScalingActive False ScalingDisabled);
 * 3. otherwise ask the pods' nodes for usage (functions/node-usage.ts) and compute each metric's
 *    proposal (hpa-metrics.ts, hpa-replicas.ts); the largest wins; when every metric fails,
 *    ScalingActive False with the metric's reason, and nothing is scaled;
 * 4. stabilize and limit the rate (hpa-behavior.ts);
 * 5. write the target's replicas when they change (SuccessfulRescale Event), then the status
 *    when it changed.
 *
 * Per-HPA history (recommendations, scale events, the next sync) lives in `HpaState`, kept by
 * the manager across passes, as the Kubernetes controller keeps it in memory. The pace comes
 * from `wakeAt`: locally every HPA_SYNC_MS; on Lambda at the controllers' schedule (each minute).
 */
import {
  type HorizontalPodAutoscaler,
  type HorizontalPodAutoscalerStatus,
  HPA_KIND,
  type MetricSpec,
  type MetricStatus,
  type Pod,
} from '../../schemas';
import { setCondition } from '../../schemas/conditions';
import { cpuMillis } from '../../schemas/quantity';
import { milliQuantity } from '../../schemas/quantity-format';
import { isoTime } from '../../schemas/time';
import { recordEvent } from '../events';
import {
  askForUsage,
  HPA_DEMAND_MS,
  HPA_RENEW_MS,
  type NodeUsage,
  readUsage,
  USAGE_FRESH_MS,
  usageAgeMs,
} from '../node-usage';
import { compileSelectorObject } from '../store/selector';
import type { Obj } from '../store/types';
import { type PassContext, reconcileEach } from './controller';
import { type ConditionNote, type HpaHistory, newHistory, normalize, recordRescale } from './hpa-behavior';
import { podMetrics, podSample } from './hpa-metrics';
import { resourceReplicas } from './hpa-replicas';
import { sameJson } from './util';

/** Kubernetes' --horizontal-pod-autoscaler-sync-period. */
export const HPA_SYNC_MS = 15_000;
/** A first look that had to ask for usage looks again this soon (the nodes answer within a sync). */
const FIRST_USAGE_RETRY_MS = 3_000;
const COMPONENT = { component: 'horizontal-pod-autoscaler' };

export interface HpaState {
  byUid: Map<string, { nextSyncAt: number; history?: HpaHistory }>;
  /**
   * Node name -> until when it is known to be asked for usage (its NodeDesired `usageUntil`, as
   * this controller wrote or last read it): a node is asked again, which reads its record, only
   * when less than HPA_RENEW_MS is left, not at every sync of every HPA (a read per target node
   * per pass). Forgotten when the node's usage goes missing or stale, so a record that lost its
   * ask (a node registered again) is asked again at the next pass.
   */
  askedUntil: Map<string, number>;
}

export function newHpaState(): HpaState {
  return { byUid: new Map(), askedUntil: new Map() };
}

/** The HPA's identity across passes: its uid (a re-created HPA starts afresh). */
const keyOf = (h: HorizontalPodAutoscaler) => h.metadata.uid ?? `${h.metadata.namespace}/${h.metadata.name}`;

type Scalable = Obj & {
  spec?: { replicas?: number; selector?: Parameters<typeof compileSelectorObject>[0] };
};

export async function reconcileHpas(ctx: PassContext, state: HpaState): Promise<void> {
  const hpas = await ctx.snapshot.list<HorizontalPodAutoscaler>(HPA_KIND);
  const live = new Set(hpas.map(keyOf));
  for (const uid of state.byUid.keys()) if (!live.has(uid)) state.byUid.delete(uid);
  const now = ctx.deps.clock();
  for (const [node, until] of state.askedUntil) if (until <= now) state.askedUntil.delete(node);
  if (hpas.length === 0) return;
  const due = hpas.filter((h) => (state.byUid.get(keyOf(h))?.nextSyncAt ?? 0) <= now);
  // One read of each node's usage per pass, whichever HPAs share it.
  const usage = new Map<string, NodeUsage>();
  await reconcileEach(ctx, 'horizontal-pod-autoscaler', due, (hpa) => syncHpa(ctx, state, hpa, usage));
  let next = Number.POSITIVE_INFINITY;
  for (const h of hpas) next = Math.min(next, state.byUid.get(keyOf(h))?.nextSyncAt ?? now + HPA_SYNC_MS);
  ctx.wakeAt(Math.max(next, now + 1_000));
}

interface Outcome {
  conditions: { type: string; note: ConditionNote }[];
  metrics: MetricStatus[];
}

async function syncHpa(
  ctx: PassContext,
  state: HpaState,
  hpa: HorizontalPodAutoscaler,
  usageCache: Map<string, NodeUsage>,
): Promise<void> {
  const { deps } = ctx;
  const now = deps.clock();
  const entry = state.byUid.get(keyOf(hpa)) ?? { nextSyncAt: 0 };
  state.byUid.set(keyOf(hpa), entry);
  entry.nextSyncAt = now + HPA_SYNC_MS;
  const ns = hpa.metadata.namespace as string;
  const ref = hpa.spec.scaleTargetRef;
  const target = (await ctx.snapshot.list<Scalable>(ref.kind)).find(
    (o) => o.metadata.namespace === ns && o.metadata.name === ref.name,
  );
  const out: Outcome = { conditions: [], metrics: [] };
  if (!target) {
    const message = `the HPA controller was unable to get the target's current scale: ${ref.kind.toLowerCase()}s.apps "${ref.name}" not found`;
    out.conditions.push({ type: 'AbleToScale', note: { status: 'False', reason: 'FailedGetScale', message } });
    await recordEvent(deps, hpa, 'Warning', 'FailedGetScale', message, COMPONENT);
    await writeStatus(ctx, hpa, out, { desiredReplicas: hpa.status?.desiredReplicas ?? 0 }, now);
    return;
  }
  const current = target.spec?.replicas ?? 1;
  entry.history ??= newHistory(current, now);
  out.conditions.push({
    type: 'AbleToScale',
    note: {
      status: 'True',
      reason: 'SucceededGetScale',
      message: "the HPA controller was able to get the target's current scale",
    },
  });
  const min = hpa.spec.minReplicas ?? 1;
  const max = hpa.spec.maxReplicas;
  let desired = 0;
  let reason = '';
  let rescale = true;
  if (current === 0 && min !== 0) {
    rescale = false;
    out.conditions.push({
      type: 'ScalingActive',
      note: {
        status: 'False',
        reason: 'ScalingDisabled',
        message: 'scaling is disabled since the replica count of the target is zero',
      },
    });
  } else if (current > max) {
    desired = max;
    reason = 'Current number of replicas above Spec.MaxReplicas';
  } else if (current < min) {
    desired = min;
    reason = 'Current number of replicas below Spec.MinReplicas';
  } else {
    const match = compileSelectorObject(target.spec?.selector ?? {});
    const pods = (await ctx.snapshot.list<Pod>('Pod')).filter(
      (p) => p.metadata.namespace === ns && match(p.metadata.labels),
    );
    const usage = await usageFor(ctx, state, pods, usageCache);
    if (usage.firstAsk) entry.nextSyncAt = now + FIRST_USAGE_RETRY_MS;
    const proposal = await proposeReplicas(ctx, hpa, current, pods, usage.records, out, now);
    if (proposal === undefined) {
      await writeStatus(
        ctx,
        hpa,
        out,
        { currentReplicas: current, desiredReplicas: hpa.status?.desiredReplicas ?? current },
        now,
      );
      return;
    }
    desired = proposal.replicas;
    if (desired > current) reason = `${proposal.metric} above target`;
    if (desired < current) reason = 'All metrics below target';
    const normalized = normalize(hpa, entry.history, { current, desired, min, max, now });
    out.conditions.unshift({ type: 'AbleToScale', note: normalized.ableToScale });
    out.conditions.push({ type: 'ScalingLimited', note: normalized.scalingLimited });
    desired = normalized.replicas;
    rescale = desired !== current;
  }
  let lastScaleTime = hpa.status?.lastScaleTime;
  if (rescale) {
    await deps.store.update({ ...target, spec: { ...target.spec, replicas: desired } });
    out.conditions.unshift({
      type: 'AbleToScale',
      note: {
        status: 'True',
        reason: 'SucceededRescale',
        message: `the HPA controller was able to update the target scale to ${desired}`,
      },
    });
    await recordEvent(deps, hpa, 'Normal', 'SuccessfulRescale', `New size: ${desired}; reason: ${reason}`, COMPONENT);
    recordRescale(hpa, entry.history, current, desired, now);
    lastScaleTime = isoTime(now);
  } else desired = current;
  await writeStatus(
    ctx,
    hpa,
    out,
    { currentReplicas: current, desiredReplicas: desired, ...(lastScaleTime ? { lastScaleTime } : {}) },
    now,
  );
}

/**
 * Asks the pods' nodes for usage (those not known to be asked for long enough: HpaState) and
 * reads what they sent, once per node per pass.
 */
async function usageFor(
  ctx: PassContext,
  state: HpaState,
  pods: Pod[],
  cache: Map<string, NodeUsage>,
): Promise<{ records: Map<string, NodeUsage>; firstAsk: boolean }> {
  const now = ctx.deps.clock();
  const nodes = [...new Set(pods.map((p) => p.spec.nodeName).filter((n): n is string => Boolean(n)))];
  const due = nodes.filter((n) => (state.askedUntil.get(n) ?? 0) - now < HPA_RENEW_MS);
  const { written, until } = await askForUsage(ctx.deps.store, ctx.deps.clock, due, HPA_DEMAND_MS, HPA_RENEW_MS);
  for (const [n, at] of until) state.askedUntil.set(n, at);
  const unread = nodes.filter((n) => !cache.has(n));
  for (const [n, u] of await readUsage(ctx.deps.store, unread)) cache.set(n, u);
  const records = new Map(nodes.flatMap((n) => (cache.has(n) ? [[n, cache.get(n) as NodeUsage] as const] : [])));
  // A node asked a while ago that sends nothing fresh may have lost its ask: ask it next time.
  for (const n of nodes) {
    const u = records.get(n);
    if (!written.includes(n) && (!u || usageAgeMs(u, now) > USAGE_FRESH_MS)) state.askedUntil.delete(n);
  }
  return { records, firstAsk: written.some((n) => !records.has(n)) };
}

/** The metric's name in the HPA's messages ("cpu resource utilization (percentage of request)"). */
function metricName(m: MetricSpec): string {
  const source = m.type === 'ContainerResource' ? m.containerResource : m.resource;
  const kind = m.type === 'ContainerResource' ? 'container resource' : 'resource';
  return source?.target.type === 'Utilization'
    ? `${source.name} ${kind} utilization (percentage of request)`
    : `${source?.name} ${kind}`;
}

/**
 * Each metric's proposal, the largest kept (Kubernetes' computeReplicasForMetrics). Undefined
 * when every metric failed: ScalingActive is then False with the first failure's reason.
 */
async function proposeReplicas(
  ctx: PassContext,
  hpa: HorizontalPodAutoscaler,
  current: number,
  pods: Pod[],
  usage: Map<string, NodeUsage>,
  out: Outcome,
  now: number,
): Promise<{ replicas: number; metric: string } | undefined> {
  let best: { replicas: number; metric: string } | undefined;
  let failure: ConditionNote | undefined;
  let invalid = 0;
  const metrics = hpa.spec.metrics ?? [];
  for (const m of metrics) {
    const container = m.type === 'ContainerResource' ? m.containerResource?.container : undefined;
    const source = m.type === 'ContainerResource' ? m.containerResource : m.resource;
    if (!source) continue;
    const utilization = source.target.type === 'Utilization';
    const target = utilization
      ? { type: 'Utilization' as const, value: source.target.averageUtilization ?? 0 }
      : { type: 'AverageValue' as const, value: cpuMillis(source.target.averageValue ?? 0) };
    const samples = pods.map((p) => podSample(p, source.name, container));
    const result = resourceReplicas(
      current,
      target,
      samples,
      podMetrics(pods, usage, source.name, container, now),
      source.name === 'cpu',
      source.name,
      now,
    );
    if (!result.ok) {
      invalid++;
      const reason = m.type === 'ContainerResource' ? 'FailedGetContainerResourceMetric' : 'FailedGetResourceMetric';
      const error = `failed to get ${source.name} ${utilization ? 'utilization' : 'usage'}: ${result.error}`;
      await recordEvent(ctx.deps, hpa, 'Warning', reason, error, COMPONENT);
      failure ??= { status: 'False', reason, message: `the HPA was unable to compute the replica count: ${error}` };
      continue;
    }
    const currentValue = {
      ...(result.utilization !== undefined ? { averageUtilization: result.utilization } : {}),
      averageValue: milliQuantity(result.average),
    };
    out.metrics.push(
      m.type === 'ContainerResource'
        ? {
            type: m.type,
            containerResource: { name: source.name, container: container as string, current: currentValue },
          }
        : { type: 'Resource', resource: { name: source.name, current: currentValue } },
    );
    if (!best || result.replicas > best.replicas) best = { replicas: result.replicas, metric: metricName(m) };
  }
  if (!best) {
    out.conditions.push({
      type: 'ScalingActive',
      note: failure ?? { status: 'False', reason: 'InvalidMetricSourceType', message: 'no metrics' },
    });
    await recordEvent(
      ctx.deps,
      hpa,
      'Warning',
      'FailedComputeMetricsReplicas',
      `invalid metrics (${invalid} invalid out of ${metrics.length}), first error is: ${failure?.message ?? 'no metrics'}`,
      COMPONENT,
    );
    return undefined;
  }
  out.conditions.push({
    type: 'ScalingActive',
    note: {
      status: 'True',
      reason: 'ValidMetricFound',
      message: `the HPA was able to successfully calculate a replica count from ${best.metric}`,
    },
  });
  return best;
}

/** Writes the status when it changed (conditions keep their transition times). */
async function writeStatus(
  ctx: PassContext,
  hpa: HorizontalPodAutoscaler,
  out: Outcome,
  counts: Pick<HorizontalPodAutoscalerStatus, 'currentReplicas' | 'desiredReplicas' | 'lastScaleTime'>,
  now: number,
): Promise<void> {
  // Later notes of a type override earlier ones; the order shown is Kubernetes'.
  const byType = new Map<string, ConditionNote>();
  for (const c of out.conditions) if (!byType.has(c.type)) byType.set(c.type, c.note);
  let conditions = hpa.status?.conditions ?? [];
  for (const type of ['AbleToScale', 'ScalingActive', 'ScalingLimited']) {
    const note = byType.get(type);
    if (note) conditions = setCondition(conditions, { type, ...note }, isoTime(now));
  }
  const status: HorizontalPodAutoscalerStatus = {
    ...(hpa.metadata.generation !== undefined ? { observedGeneration: hpa.metadata.generation } : {}),
    ...counts,
    ...(out.metrics.length ? { currentMetrics: out.metrics } : {}),
    conditions,
  };
  if (sameJson(status, hpa.status)) return;
  await ctx.deps.store.update({ ...hpa, status });
}
