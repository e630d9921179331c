/**
 * Eviction: a pod deleted only if no PodDisruptionBudget forbids it, shared by the API's
 * `pods/NAME/eviction` subresource, `ferry drain` (through the API) and the NodePool controller's
 * retirement. Kubernetes' EvictionREST.Create, step by step
 * (pkg/registry/core/pod/storage/eviction.go):
 *
 * 1. preconditions (uid, resourceVersion) are checked against the pod;
 * 2. a pod that is not running yet or any more (Pending, Succeeded, Failed) or already terminating
 *    is deleted without consulting a budget: evicting it disrupts nothing;
 * 3. more than one matching budget is a 500 Kubernetes does not support either; none: delete;
 * 4. an unready pod is deleted without spending the budget when the budget says AlwaysAllow, or
 *    (IfHealthyBudget, the default) when the budget is met without it — pinned to the pod's
 *    resourceVersion, so a pod that became ready meanwhile is not deleted that way;
 * 5. otherwise the budget is spent: `status.disruptionsAllowed` is decremented and the pod recorded
 *    in `status.disruptedPods`, written with the budget's resourceVersion, so of two evictions racing
 *    for the last allowed disruption one wins and the other re-reads, finds 0 and gets a 429;
 * 6. the pod is deleted gracefully (pod-deletion.ts).
 *
 * The disruption controller (controllers/disruption.ts) later sees the pod gone and recomputes
 * the budget from the pods that are left.
 */
import type { Pod, PodDisruptionBudget } from '../schemas';
import { isConditionTrue, setCondition } from '../schemas/conditions';
import { DISRUPTION_ALLOWED_CONDITION, PDB_CAUSE_TYPE } from '../schemas/disruption';
import { isoTime } from '../schemas/time';
import type { Deps } from './deps';
import { ConflictError, ForbiddenError, InternalError, NotFoundError, TooManyRequestsError } from './errors';
import { deletePod } from './pod-deletion';
import { isObjectAt, retryOnConflict } from './store/retry';
import { compileSelectorObject } from './store/selector';
import type { Obj } from './store/types';

export interface EvictOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Check everything, spend and delete nothing. */
  dryRun?: boolean;
}

/** Seconds a client waits after a 429 before trying again (kubectl drain retries every 5 s anyway). */
export const EVICTION_RETRY_SECONDS = 1;
/** Kubernetes' MaxDisruptedPodSize: evictions the disruption controller has not yet confirmed. */
const MAX_DISRUPTED_PODS = 2000;
const BUDGET_ATTEMPTS = 5;

export const VIOLATES_BUDGET = "Cannot evict pod as it would violate the pod's disruption budget.";
export const MULTIPLE_BUDGETS =
  'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.';

/** Evicts one pod or throws: NotFound, Conflict (a precondition), TooManyRequests (a budget), Internal (two budgets). */
export async function evictPod(
  deps: Deps,
  ref: { namespace: string; name: string },
  options: EvictOptions = {},
): Promise<Obj | undefined> {
  const pod = await deps.store.get<Pod>({ kind: 'Pod', ...ref });
  if (!pod) throw new NotFoundError('Pod', ref.name, `pods "${ref.name}" not found`);
  checkPreconditions(pod, options.preconditions);
  const grace = options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {};
  const pinned = { ...grace, resourceVersion: pod.metadata.resourceVersion as string };
  if (disruptsNothing(pod)) return remove(deps, ref, options, grace);
  const budgets = await budgetsFor(deps, pod);
  if (budgets.length > 1) throw new InternalError(MULTIPLE_BUDGETS, true);
  const budget = budgets[0];
  if (!budget) return remove(deps, ref, options, grace);
  if (!isPodHealthy(pod) && unhealthyMayGo(budget)) return remove(deps, ref, options, pinned);
  await spendBudget(deps, budget, pod.metadata.name, options.dryRun === true);
  return remove(deps, ref, options, grace);
}

async function remove(
  deps: Deps,
  ref: { namespace: string; name: string },
  options: EvictOptions,
  deletion: { gracePeriodSeconds?: number; resourceVersion?: string },
): Promise<Obj | undefined> {
  if (options.dryRun) return deps.store.get({ kind: 'Pod', ...ref });
  return deletePod(deps, { kind: 'Pod', ...ref }, deletion);
}

function checkPreconditions(pod: Pod, pre: EvictOptions['preconditions']): void {
  const name = pod.metadata.name;
  if (pre?.uid !== undefined && pre.uid !== pod.metadata.uid)
    throw new ConflictError(
      'Pod',
      name,
      pod,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${pod.metadata.uid}`,
    );
  if (pre?.resourceVersion !== undefined && pre.resourceVersion !== pod.metadata.resourceVersion)
    throw new ConflictError(
      'Pod',
      name,
      pod,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${pod.metadata.resourceVersion}`,
    );
}

/** Kubernetes' canIgnorePDB: the pod is not running (yet or any more) or already going. */
function disruptsNothing(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || !!pod.metadata.deletionTimestamp;
}

/** A budget's notion of healthy is Kubernetes' IsPodReady. */
export function isPodHealthy(pod: Pod): boolean {
  return isConditionTrue(pod, 'Ready');
}

function unhealthyMayGo(budget: PodDisruptionBudget): boolean {
  if (budget.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow') return true;
  const s = budget.status;
  return s !== undefined && s.desiredHealthy > 0 && s.currentHealthy >= s.desiredHealthy;
}

/** Whether a budget's selector picks a pod: none (no selector) picks nothing, `{}` every pod (policy/v1). */
export function budgetSelects(budget: PodDisruptionBudget, pod: Pod): boolean {
  if (!budget.spec?.selector || budget.metadata.namespace !== pod.metadata.namespace) return false;
  return compileSelectorObject(budget.spec.selector)(pod.metadata.labels);
}

export async function budgetsFor(deps: Deps, pod: Pod): Promise<PodDisruptionBudget[]> {
  const { items } = await deps.store.list<PodDisruptionBudget>('PodDisruptionBudget', {
    namespace: pod.metadata.namespace as string,
  });
  return items.filter((b) => budgetSelects(b, pod));
}

/** Kubernetes' checkAndDecrement, retried from the fresh budget when another eviction won a race. */
async function spendBudget(deps: Deps, first: PodDisruptionBudget, podName: string, dryRun: boolean): Promise<void> {
  const ref = refOf(first);
  await retryOnConflict(
    async (current, attempt) => {
      const budget =
        attempt === 1
          ? first
          : isObjectAt(current, ref)
            ? (current as PodDisruptionBudget)
            : await deps.store.get<PodDisruptionBudget>(ref);
      if (!budget) return; // deleted meanwhile: nothing protects the pod any more
      const next = decremented(budget, podName, deps.clock());
      if (dryRun) return;
      await deps.store.update(next);
    },
    { attempts: BUDGET_ATTEMPTS },
  );
}

/** The budget with one disruption spent on `podName`, or the error that says why none is left. */
function decremented(budget: PodDisruptionBudget, podName: string, now: number): PodDisruptionBudget {
  const name = budget.metadata.name;
  const status = budget.status;
  if (!status || (status.observedGeneration ?? 0) < (budget.metadata.generation ?? 1))
    throw new TooManyRequestsError(`The disruption budget ${name} is still being processed by the server.`, 10, [
      { reason: PDB_CAUSE_TYPE, message: `The disruption budget ${name} is still being processed by the server.` },
    ]);
  if (status.disruptionsAllowed < 0) throw new ForbiddenError('pdb disruptions allowed is negative');
  if (Object.keys(status.disruptedPods ?? {}).length > MAX_DISRUPTED_PODS)
    throw new ForbiddenError('DisruptedPods map too big - too many evictions not confirmed by PDB controller');
  if (status.disruptionsAllowed === 0)
    throw new TooManyRequestsError(VIOLATES_BUDGET, EVICTION_RETRY_SECONDS, [
      {
        reason: PDB_CAUSE_TYPE,
        message: `The disruption budget ${name} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently`,
      },
    ]);
  const left = status.disruptionsAllowed - 1;
  // Kubernetes flips the condition here at once: the next eviction reads it before the controller runs.
  const conditions =
    left === 0
      ? setCondition(
          status.conditions,
          { type: DISRUPTION_ALLOWED_CONDITION, status: 'False', reason: 'InsufficientPods', message: '' },
          isoTime(now),
        )
      : status.conditions;
  return {
    ...budget,
    status: {
      ...status,
      disruptionsAllowed: left,
      disruptedPods: { ...status.disruptedPods, [podName]: isoTime(now) },
      ...(conditions ? { conditions } : {}),
    },
  };
}

function refOf(obj: Obj) {
  return { kind: obj.kind, namespace: obj.metadata.namespace as string, name: obj.metadata.name };
}
