/**
 * ReplicaSet controller: keeps `spec.replicas` active pods, replacing failed and evicted ones;
 * scales down the least valuable pods first (unscheduled, then pending, then not ready, then the
 * newest), as Kubernetes' controller.ActivePods ordering does.
 *
 * Creates go in slow-start batches (1, 2, 4, ...; create-batches.ts) of at most
 * MAX_CREATES_PER_PASS for all ReplicaSets per pass, so `replicas: 2147483648` raises the pod count by
 * batches while the API keeps answering, and a ReplicaSet whose pods are all refused stops at the
 * first refusal instead of hammering the store. One ReplicaSet that fails (a selector the
 * controller cannot read) gets a Warning Event; the others are still reconciled.
 */
import type { Pod, ReplicaSet } from '../../schemas';
import { findCondition } from '../../schemas/conditions';
import { admitControllerPod } from '../admission';
import type { Deps } from '../deps';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { compileSelectorObject, type LabelSelectorMatch } from '../store/selector';
import { type PassContext, reconcileEach, standaloneContext } from './controller';
import { slowStartBatch } from './create-batches';
import { isActive, isAvailable, isReady, podFromTemplate, sameJson } from './util';

const SOURCE = { component: 'replicaset-controller' };

export async function reconcileReplicaSets(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const sets = (await ctx.snapshot.list<ReplicaSet>('ReplicaSet')).filter((rs) => !rs.metadata.deletionTimestamp);
  await reconcileEach(ctx, SOURCE.component, sets, async (rs) => {
    const owned = await ctx.snapshot.ownedBy<Pod>('Pod', rs.metadata.uid as string);
    await reconcileOne(ctx, rs, owned);
  });
}

async function reconcileOne(ctx: PassContext, rs: ReplicaSet, owned: Pod[]): Promise<void> {
  const deps = ctx.deps;
  // The selector is compiled first: one that cannot be read fails this ReplicaSet before any write.
  const selector = compileSelectorObject(rs.spec.selector);
  const ns = rs.metadata.namespace as string;
  // Failed pods (crashed with restartPolicy Never, evicted) are replaced: remove them first.
  for (const pod of owned) {
    if (pod.status?.phase === 'Failed' && !pod.metadata.deletionTimestamp) {
      await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name }, { force: true });
    }
  }
  const active = owned.filter(isActive);
  const want = rs.spec.replicas ?? 1;
  const diff = want - active.length;
  if (diff > 0 && rs.spec.template) {
    const template = rs.spec.template;
    const { created, error } = await slowStartBatch(ctx.takeCreates(SOURCE.component, diff), async () => {
      const pod = podFromTemplate(rs, template);
      // LimitRange defaults, Pod Security and quota, as the API applies them to a user's pod.
      await admitControllerPod(deps, pod);
      return deps.store.create(pod);
    });
    if (created > 0) await recordEvent(deps, rs, 'Normal', 'SuccessfulCreate', `Created ${created} pod(s)`, SOURCE);
    if (error) {
      await recordEvent(deps, rs, 'Warning', 'FailedCreate', `Error creating pod: ${messageOf(error)}`, SOURCE);
    }
    // More to make than one pass may create: go on at the next round or pass.
    if (created < diff) ctx.wakeAt(deps.clock() + 1_000);
  } else if (diff < 0) {
    const victims = [...active].sort(byValue).slice(0, -diff);
    for (const pod of victims) await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name });
    await recordEvent(deps, rs, 'Normal', 'SuccessfulDelete', `Deleted ${victims.length} pod(s)`, SOURCE);
  }
  await updateStatus(
    ctx,
    rs,
    selector,
    (await ctx.snapshot.ownedBy<Pod>('Pod', rs.metadata.uid as string)).filter(isActive),
  );
}

/** Lower sorts first = deleted first. */
function byValue(a: Pod, b: Pod): number {
  const rank = (p: Pod) => [p.spec.nodeName ? 1 : 0, p.status?.phase === 'Running' ? 1 : 0, isReady(p) ? 1 : 0];
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return (ra[i] as number) - (rb[i] as number);
  // Newer pods go first.
  return String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp));
}

async function updateStatus(
  ctx: PassContext,
  rs: ReplicaSet,
  selector: LabelSelectorMatch,
  active: Pod[],
): Promise<void> {
  const deps = ctx.deps;
  const now = deps.clock();
  const minReady = rs.spec.minReadySeconds ?? 0;
  // A ready pod becomes available minReadySeconds later, with no write to trigger a pass.
  for (const p of active) {
    const since = Date.parse(findCondition(p, 'Ready')?.lastTransitionTime ?? '');
    if (minReady > 0 && isReady(p) && now - since < minReady * 1000) ctx.wakeAt(since + minReady * 1000);
  }
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  const status = {
    replicas: active.length,
    fullyLabeledReplicas: active.filter(
      (p) =>
        selector(p.metadata.labels) && Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v),
    ).length,
    readyReplicas: active.filter(isReady).length,
    availableReplicas: active.filter((p) => isAvailable(p, rs.spec.minReadySeconds ?? 0, now)).length,
    observedGeneration: rs.metadata.generation ?? 1,
  };
  if (sameJson(status, rs.status)) return;
  await deps.store.update({ ...rs, status });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
