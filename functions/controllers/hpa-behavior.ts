/**
 * From the metrics' proposal to the replica count an HPA sets: stabilization and rate limits, in
 * the Kubernetes HPA controller's own steps and words (pkg/controller/podautoscaler/horizontal.go,
 * normalizeDesiredReplicasWithBehaviors and, for an HPA without `behavior`, normalizeDesiredReplicas).
 *
 * 1. Stabilize: the recommendation is held between the lowest proposal of the scale-up window
 *    and the highest of the scale-down window (default 0 s up, 300 s down): a dip of load does not
 *    remove pods a minute later needs again. AbleToScale says ScaleUpStabilized /
 *    ScaleDownStabilized when that changed the proposal, else ReadyForNewScale.
 * 2. Limit the rate: each policy (Pods or Percent per periodSeconds) allows a change counted from
 *    the replicas at the start of its period (the scale events of the period taken back);
 *    `selectPolicy` Max takes the policy allowing most change, Min the least, Disabled none; then
 *    min/maxReplicas. ScalingLimited is True when this cut the recommendation (ScaleUpLimit,
 *    ScaleDownLimit, TooManyReplicas, TooFewReplicas), else False (DesiredWithinRange).
 *
 * The history (recommendations, scale events) lives in the controller's memory, as in Kubernetes;
 * a controller that starts (a Lambda cold start) seeds it with the current replicas, so it never
 * scales down within the down window of starting.
 */
import {
  DEFAULT_SCALE_DOWN,
  DEFAULT_SCALE_UP,
  type HorizontalPodAutoscaler,
  type HPAScalingRules,
} from '../../schemas';

/** Kubernetes' downscale stabilization for HPAs without `behavior` (--horizontal-pod-autoscaler-downscale-stabilization). */
export const LEGACY_DOWNSCALE_WINDOW_MS = 300_000;

export interface Timestamped {
  at: number;
  value: number;
}

/** One HPA's history, kept across syncs. */
export interface HpaHistory {
  recommendations: Timestamped[];
  /** Replicas added (up) or removed (down) by each rescale, with when. */
  scaleUp: Timestamped[];
  scaleDown: Timestamped[];
}

export interface ConditionNote {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface Normalized {
  replicas: number;
  ableToScale: ConditionNote;
  scalingLimited: ConditionNote;
}

export function newHistory(currentReplicas: number, now: number): HpaHistory {
  return { recommendations: [{ at: now, value: currentReplicas }], scaleUp: [], scaleDown: [] };
}

interface Args {
  current: number;
  desired: number;
  min: number;
  max: number;
  now: number;
}

/** Step 1 and 2 for an HPA, recording the proposal in `history`. */
export function normalize(hpa: HorizontalPodAutoscaler, history: HpaHistory, args: Args): Normalized {
  const behavior = hpa.spec.behavior;
  if (!behavior) return normalizeLegacy(history, args);
  const up = { ...DEFAULT_SCALE_UP, ...behavior.scaleUp };
  const down = { ...DEFAULT_SCALE_DOWN, ...behavior.scaleDown };
  const stabilized = stabilize(
    history,
    args,
    (up.stabilizationWindowSeconds ?? 0) * 1000,
    (down.stabilizationWindowSeconds ?? 300) * 1000,
  );
  const ableToScale: ConditionNote =
    stabilized.value !== args.desired
      ? { status: 'True', reason: stabilized.reason, message: stabilized.message }
      : { status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
  const limited = limitRate({ ...args, desired: stabilized.value }, history, up, down);
  return {
    replicas: limited.replicas,
    ableToScale,
    scalingLimited: {
      status: limited.replicas === stabilized.value ? 'False' : 'True',
      reason: limited.reason,
      message: limited.message,
    },
  };
}

/** Kubernetes' stabilizeRecommendationWithBehaviors. */
function stabilize(history: HpaHistory, args: Args, upWindowMs: number, downWindowMs: number) {
  const upCutoff = args.now - upWindowMs;
  const downCutoff = args.now - downWindowMs;
  let upRecommendation = args.desired;
  let downRecommendation = args.desired;
  let oldIndex = -1;
  history.recommendations.forEach((r, i) => {
    if (r.at > upCutoff) upRecommendation = Math.min(r.value, upRecommendation);
    if (r.at > downCutoff) downRecommendation = Math.max(r.value, downRecommendation);
    if (r.at < upCutoff && r.at < downCutoff) oldIndex = i;
  });
  let value = args.current;
  if (value < upRecommendation) value = upRecommendation;
  if (value > downRecommendation) value = downRecommendation;
  const entry = { at: args.now, value: args.desired };
  // An entry older than both windows is reused, so the history never outgrows them.
  if (oldIndex >= 0) history.recommendations[oldIndex] = entry;
  else history.recommendations.push(entry);
  return args.desired >= args.current
    ? {
        value,
        reason: 'ScaleUpStabilized',
        message: 'recent recommendations were lower than current one, applying the lowest recent recommendation',
      }
    : {
        value,
        reason: 'ScaleDownStabilized',
        message: 'recent recommendations were higher than current one, applying the highest recent recommendation',
      };
}

/** Kubernetes' convertDesiredReplicasWithBehaviorRate. */
function limitRate(args: Args, history: HpaHistory, up: HPAScalingRules, down: HPAScalingRules) {
  if (args.desired > args.current) {
    const scaleUpLimit = Math.max(scaleUpLimitOf(args.current, history, up, args.now), args.current);
    const [allowed, reason, message] =
      args.max > scaleUpLimit
        ? [scaleUpLimit, 'ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate']
        : [args.max, 'TooManyReplicas', 'the desired replica count is more than the maximum replica count'];
    if (args.desired > allowed) return { replicas: allowed, reason, message };
  } else if (args.desired < args.current) {
    const scaleDownLimit = Math.min(scaleDownLimitOf(args.current, history, down, args.now), args.current);
    const [allowed, reason, message] =
      args.min < scaleDownLimit
        ? [
            scaleDownLimit,
            'ScaleDownLimit',
            'the desired replica count is decreasing faster than the maximum scale rate',
          ]
        : [args.min, 'TooFewReplicas', 'the desired replica count is less than the minimum replica count'];
    if (args.desired < allowed) return { replicas: allowed, reason, message };
  }
  return {
    replicas: args.desired,
    reason: 'DesiredWithinRange',
    message: 'the desired count is within the acceptable range',
  };
}

/** Replicas changed by the events within the last `periodSeconds`. */
function changedIn(events: Timestamped[], periodSeconds: number, now: number): number {
  const cutoff = now - periodSeconds * 1000;
  return events.filter((e) => e.at > cutoff).reduce((sum, e) => sum + e.value, 0);
}

/** Kubernetes' calculateScaleUpLimitWithScalingRules. */
export function scaleUpLimitOf(current: number, history: HpaHistory, rules: HPAScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const start =
      current - changedIn(history.scaleUp, p.periodSeconds, now) + changedIn(history.scaleDown, p.periodSeconds, now);
    // Rounded up: a percentage that adds less than one pod must still be able to add one.
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** Kubernetes' calculateScaleDownLimitWithBehaviors. */
export function scaleDownLimitOf(current: number, history: HpaHistory, rules: HPAScalingRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const p of rules.policies ?? []) {
    const start =
      current - changedIn(history.scaleUp, p.periodSeconds, now) + changedIn(history.scaleDown, p.periodSeconds, now);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/**
 * An HPA without `behavior`: the highest recommendation of the last 5 minutes, and at most
 * double the replicas (or 4) per sync (Kubernetes' normalizeDesiredReplicas).
 */
function normalizeLegacy(history: HpaHistory, args: Args): Normalized {
  const cutoff = args.now - LEGACY_DOWNSCALE_WINDOW_MS;
  let stabilized = args.desired;
  let oldIndex = -1;
  history.recommendations.forEach((r, i) => {
    if (r.at > cutoff) stabilized = Math.max(stabilized, r.value);
    else oldIndex = i;
  });
  const entry = { at: args.now, value: args.desired };
  if (oldIndex >= 0) history.recommendations[oldIndex] = entry;
  else history.recommendations.push(entry);
  const ableToScale: ConditionNote =
    stabilized !== args.desired
      ? {
          status: 'True',
          reason: 'ScaleDownStabilized',
          message: 'recent recommendations were higher than current one, applying the highest recent recommendation',
        }
      : { status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
  const limited = legacyRules(stabilized, args);
  return {
    replicas: limited.replicas,
    ableToScale,
    scalingLimited: { status: limited.replicas === stabilized ? 'False' : 'True', ...limited },
  };
}

/** Kubernetes' convertDesiredReplicasWithRules: min/maxReplicas, and at most double (or 4) per sync. */
function legacyRules(desired: number, args: Args): { replicas: number; reason: string; message: string } {
  if (desired < args.min)
    return {
      replicas: args.min,
      reason: 'TooFewReplicas',
      message: 'the desired replica count is less than the minimum replica count',
    };
  const scaleUpLimit = Math.max(2 * args.current, 4);
  if (args.max > scaleUpLimit) {
    if (desired > scaleUpLimit)
      return {
        replicas: scaleUpLimit,
        reason: 'ScaleUpLimit',
        message: 'the desired replica count is increasing faster than the maximum scale rate',
      };
  } else if (desired > args.max)
    return {
      replicas: args.max,
      reason: 'TooManyReplicas',
      message: 'the desired replica count is more than the maximum replica count',
    };
  return {
    replicas: desired,
    reason: 'DesiredWithinRange',
    message: 'the desired count is within the acceptable range',
  };
}

/**
 * Kubernetes' storeScaleEvent: a rescale from `from` to `to` is remembered for the policies'
 * periods; events older than the longest period are dropped.
 */
export function recordRescale(
  hpa: HorizontalPodAutoscaler,
  history: HpaHistory,
  from: number,
  to: number,
  now: number,
): void {
  const behavior = hpa.spec.behavior;
  if (!behavior) return;
  const longest = (rules: HPAScalingRules | undefined, defaults: HPAScalingRules) =>
    Math.max(0, ...(rules?.policies ?? defaults.policies ?? []).map((p) => p.periodSeconds));
  if (to > from) {
    const keep = now - longest(behavior.scaleUp, DEFAULT_SCALE_UP) * 1000;
    history.scaleUp = [...history.scaleUp.filter((e) => e.at > keep), { at: now, value: to - from }];
  } else if (to < from) {
    const keep = now - longest(behavior.scaleDown, DEFAULT_SCALE_DOWN) * 1000;
    history.scaleDown = [...history.scaleDown.filter((e) => e.at > keep), { at: now, value: from - to }];
  }
}
