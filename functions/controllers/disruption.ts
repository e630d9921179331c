/**
 * The disruption controller: keeps each PodDisruptionBudget's status, which the Eviction
 * subresource spends (functions/eviction.ts), as Kubernetes' pkg/controller/disruption does:
 *
 * - the pods are those the selector picks in the budget's namespace (no selector: none);
 * - `minAvailable: N` expects the pods that exist and wants N healthy; `minAvailable: P%` and
 *   `maxUnavailable` expect the replicas the pods' controllers ask for (a Deployment's through its
 *   ReplicaSet, a ReplicaSet's, a StatefulSet's) and want P% of them (rounded up), or all but
 *   maxUnavailable (rounded up) of them;
 * - healthy = Ready, not terminating, and not evicted in the last two minutes without the
 *   deletion being seen yet (`status.disruptedPods`; older entries are dropped, as Kubernetes'
 *   DeletionTimeout);
 * - `disruptionsAllowed` = healthy - desired, at least 0, and 0 when nothing is expected.
 *
 * A budget whose pods' controllers cannot be counted (a pod with no controller, or a kind with no
 * replica count, under a percentage or maxUnavailable) fails safe as Kubernetes does: no disruption
 * allowed, condition `DisruptionAllowed=False` with reason `SyncFailed` and the cause.
 */
import type { Pod, PodDisruptionBudget, PodDisruptionBudgetStatus } from '../../schemas';
import { setCondition } from '../../schemas/conditions';
import { DISRUPTION_ALLOWED_CONDITION } from '../../schemas/disruption';
import { isoTime } from '../../schemas/time';
import { budgetSelects, isPodHealthy } from '../eviction';
import type { Obj } from '../store/types';
import { type PassContext, reconcileEach } from './controller';
import { controllerRef, resolveIntOrPercent, sameJson } from './util';

const COMPONENT = 'disruption-controller';
/** Kubernetes' DeletionTimeout: an eviction not followed by a deletion within this stops counting. */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60_000;

export async function reconcileDisruptionBudgets(ctx: PassContext): Promise<void> {
  const budgets = await ctx.snapshot.list<PodDisruptionBudget>('PodDisruptionBudget');
  if (budgets.length === 0) return;
  const pods = await ctx.snapshot.list<Pod>('Pod');
  await reconcileEach(ctx, COMPONENT, budgets, async (budget) => {
    const selected = pods.filter((p) => budgetSelects(budget, p));
    const status = await statusOf(ctx, budget, selected);
    if (sameJson(status, budget.status)) return;
    await ctx.deps.store.update({ ...budget, status });
  });
}

async function statusOf(
  ctx: PassContext,
  budget: PodDisruptionBudget,
  pods: Pod[],
): Promise<PodDisruptionBudgetStatus> {
  const now = ctx.deps.clock();
  const disruptedPods = stillDisrupted(ctx, budget, pods, now);
  const healthy = pods.filter(
    (p) => !p.metadata.deletionTimestamp && isPodHealthy(p) && disruptedPods[p.metadata.name] === undefined,
  ).length;
  const generation = budget.metadata.generation ?? 1;
  let expected: { expectedPods: number; desiredHealthy: number };
  try {
    expected = await expectation(ctx, budget, pods);
  } catch (err) {
    return written(budget, now, {
      observedGeneration: generation,
      disruptionsAllowed: 0,
      currentHealthy: healthy,
      desiredHealthy: budget.status?.desiredHealthy ?? 0,
      expectedPods: budget.status?.expectedPods ?? 0,
      disruptedPods,
      condition: { status: 'False', reason: 'SyncFailed', message: (err as Error).message },
    });
  }
  const allowed = expected.expectedPods <= 0 ? 0 : Math.max(0, healthy - expected.desiredHealthy);
  return written(budget, now, {
    observedGeneration: generation,
    disruptionsAllowed: allowed,
    currentHealthy: healthy,
    ...expected,
    disruptedPods,
    condition:
      allowed > 0
        ? { status: 'True', reason: 'SufficientPods', message: '' }
        : { status: 'False', reason: 'InsufficientPods', message: '' },
  });
}

function written(
  budget: PodDisruptionBudget,
  now: number,
  s: Omit<PodDisruptionBudgetStatus, 'conditions'> & {
    condition: { status: string; reason: string; message: string };
  },
): PodDisruptionBudgetStatus {
  const { condition, disruptedPods, ...counts } = s;
  const conditions = setCondition(
    budget.status?.conditions,
    { type: DISRUPTION_ALLOWED_CONDITION, ...condition, observedGeneration: counts.observedGeneration },
    isoTime(now),
  );
  return {
    ...counts,
    ...(disruptedPods && Object.keys(disruptedPods).length > 0 ? { disruptedPods } : {}),
    conditions,
  };
}

/** disruptedPods without the pods that went (or began going), and without expired entries. */
function stillDisrupted(
  ctx: PassContext,
  budget: PodDisruptionBudget,
  pods: Pod[],
  now: number,
): Record<string, string> {
  const byName = new Map(pods.map((p) => [p.metadata.name, p]));
  const kept: Record<string, string> = {};
  for (const [name, at] of Object.entries(budget.status?.disruptedPods ?? {})) {
    const pod = byName.get(name);
    if (!pod || pod.metadata.deletionTimestamp) continue;
    const expires = Date.parse(at) + DISRUPTED_POD_TIMEOUT_MS;
    if (Number.isNaN(expires) || expires <= now) continue;
    kept[name] = at;
    ctx.wakeAt(expires);
  }
  return kept;
}

/** Kubernetes' getExpectedPodCount. */
async function expectation(
  ctx: PassContext,
  budget: PodDisruptionBudget,
  pods: Pod[],
): Promise<{ expectedPods: number; desiredHealthy: number }> {
  const { minAvailable, maxUnavailable } = budget.spec ?? {};
  if (maxUnavailable !== undefined) {
    const expectedPods = await expectedScale(ctx, budget, pods);
    const unavailable = resolveIntOrPercent(maxUnavailable, expectedPods, true);
    return { expectedPods, desiredHealthy: Math.max(0, expectedPods - unavailable) };
  }
  if (minAvailable === undefined) return { expectedPods: pods.length, desiredHealthy: 0 };
  if (typeof minAvailable === 'number') return { expectedPods: pods.length, desiredHealthy: minAvailable };
  const expectedPods = await expectedScale(ctx, budget, pods);
  return { expectedPods, desiredHealthy: resolveIntOrPercent(minAvailable, expectedPods, true) };
}

/** The replicas the pods' controllers ask for, each controller counted once. */
async function expectedScale(ctx: PassContext, budget: PodDisruptionBudget, pods: Pod[]): Promise<number> {
  const scales = new Map<string, number>();
  for (const pod of pods) {
    const ref = controllerRef(pod);
    if (!ref) throw new Error(`found no controller ref for pod "${pod.metadata.name}"`);
    let owner = await ownerObject(ctx, ref.kind, budget.metadata.namespace as string, ref.name, ref.uid);
    // A Deployment's ReplicaSets come and go in a rollout: the Deployment's replicas are the scale.
    const up = owner && owner.kind === 'ReplicaSet' ? controllerRef(owner) : undefined;
    if (owner && up?.kind === 'Deployment')
      owner = (await ownerObject(ctx, 'Deployment', budget.metadata.namespace as string, up.name, up.uid)) ?? owner;
    if (!owner) throw new Error(`the controller ${ref.kind} "${ref.name}" of pod "${pod.metadata.name}" was not found`);
    const replicas = (owner.spec as { replicas?: unknown } | undefined)?.replicas;
    if (!SCALED_KINDS.has(owner.kind))
      throw new Error(`${owner.kind} "${owner.metadata.name}" has no replica count to measure the budget against`);
    scales.set(owner.metadata.uid as string, typeof replicas === 'number' ? replicas : 1);
  }
  return [...scales.values()].reduce((a, b) => a + b, 0);
}

/** The kinds Kubernetes' finders read a scale from (ReplicationControllers do not exist in ferry). */
const SCALED_KINDS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet']);

async function ownerObject(
  ctx: PassContext,
  kind: string,
  namespace: string,
  name: string,
  uid: string,
): Promise<Obj | undefined> {
  if (!SCALED_KINDS.has(kind)) return { kind, metadata: { name, namespace, uid }, apiVersion: '' } as Obj;
  const found = (await ctx.snapshot.list<Obj>(kind)).find(
    (o) => o.metadata.namespace === namespace && o.metadata.name === name,
  );
  return found && found.metadata.uid === uid ? found : undefined;
}
