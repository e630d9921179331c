/**
 * ReplicaSet controller: keeps `spec.replicas` active pods, replacing failed and evicted ones;
 * scales down the least valuable pods first (unscheduled, then pending, then not ready, then the
 * newest), as Kubernetes' controller.ActivePods ordering does.
 */
import type { Pod, ReplicaSet } from '../../schemas';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { compileSelectorObject } from '../store/selector';
import { isActive, isAvailable, isOwnedBy, isReady, podFromTemplate, sameJson } from './util';

export async function reconcileReplicaSets(deps: Deps): Promise<void> {
  const [sets, pods] = await Promise.all([deps.store.list<ReplicaSet>('ReplicaSet'), deps.store.list<Pod>('Pod')]);
  for (const rs of sets.items) {
    if (rs.metadata.deletionTimestamp) continue;
    const owned = pods.items.filter((p) => p.metadata.namespace === rs.metadata.namespace && isOwnedBy(p, rs));
    await reconcileOne(deps, rs, owned);
  }
}

async function reconcileOne(deps: Deps, rs: ReplicaSet, owned: Pod[]): Promise<void> {
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
    for (let i = 0; i < diff; i++) await createPod(deps, rs);
    await recordEvent(deps, rs, 'Normal', 'SuccessfulCreate', `Created ${diff} pod(s)`, {
      component: 'replicaset-controller',
    });
  } else if (diff < 0) {
    const victims = [...active].sort(byValue).slice(0, -diff);
    for (const pod of victims) await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name });
    await recordEvent(deps, rs, 'Normal', 'SuccessfulDelete', `Deleted ${victims.length} pod(s)`, {
      component: 'replicaset-controller',
    });
  }
  await updateStatus(deps, rs, owned.filter(isActive));
}

async function createPod(deps: Deps, rs: ReplicaSet): Promise<void> {
  await deps.store.create(podFromTemplate(rs, rs.spec.template as NonNullable<ReplicaSet['spec']['template']>));
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

async function updateStatus(deps: Deps, rs: ReplicaSet, active: Pod[]): Promise<void> {
  const now = deps.clock();
  const selector = compileSelectorObject(rs.spec.selector);
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
  try {
    await deps.store.update({ ...rs, status });
  } catch (err) {
    if (!isConflict(err) && !isNotFound(err)) throw err;
  }
}
