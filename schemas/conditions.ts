/**
 * Status conditions (`status.conditions[]`), as every Kubernetes object with a status has them:
 * find one, ask whether an object is Ready, and set one keeping `lastTransitionTime` while its
 * status does not change (the apimachinery `meta.SetStatusCondition` rule).
 */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
  lastProbeTime?: string | null;
  [field: string]: unknown;
}

type WithConditions = { status?: unknown } | undefined;

function conditionsOf(obj: WithConditions): Condition[] {
  return ((obj?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []) as Condition[];
}

/** The condition of `type` on an object's status, if it has one. */
export function findCondition(obj: WithConditions, type: string): Condition | undefined {
  return conditionsOf(obj).find((c) => c.type === type);
}

/** True when the object's `type` condition (default `Ready`) is `True`: a Ready Node or Pod. */
export function isConditionTrue(obj: WithConditions, type = 'Ready'): boolean {
  return findCondition(obj, type)?.status === 'True';
}

/**
 * `conditions` with `next` in place of the condition of its type (appended if absent). The stored
 * `lastTransitionTime` is kept while the status stays the same; a changed status takes `now`.
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: Condition, now: string): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const old = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = old && old.status === next.status && old.lastTransitionTime ? old.lastTransitionTime : now;
  const merged = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

/**
 * `next`'s conditions, each keeping the `lastTransitionTime` of `previous`'s condition of the same
 * type while its status did not change (for writers that send a whole status, like the agent).
 */
export function keepTransitionTimes(previous: unknown, next: Record<string, unknown>): Record<string, unknown> {
  const before = new Map(conditionsOf({ status: previous }).map((c) => [c.type, c]));
  const conditions = (next.conditions as Condition[] | undefined)?.map((c) => {
    const old = before.get(c.type);
    return old && old.status === c.status && old.lastTransitionTime
      ? { ...c, lastTransitionTime: old.lastTransitionTime }
      : c;
  });
  return conditions ? { ...next, conditions } : next;
}
