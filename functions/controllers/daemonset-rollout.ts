/**
 * A DaemonSet's RollingUpdate, node by node, as Kubernetes' daemon controller does it
 * (pkg/controller/daemon/update.go rollingUpdate): pure, from each node's daemon pods to which old
 * pods to delete and on which nodes to start a new pod beside the old one.
 *
 * - maxSurge 0: an old pod is deleted (the manage step then makes the new one) while fewer than
 *   maxUnavailable nodes are without an available daemon pod; old pods that are not available
 *   anyway are replaced freely.
 * - maxSurge > 0: a new pod starts beside the old one on up to maxSurge nodes at a time; the old pod
 *   is deleted once the new one is available (ready for minReadySeconds). An old pod that is not
 *   available is surged over freely.
 * Both counts are resolved against the number of nodes that should run the pod, rounding up; both
 * 0 (refused by validation) would mean maxUnavailable 1.
 */
import type { DaemonSet, Pod } from '../../schemas';
import { REVISION_HASH_LABEL } from './daemonset-nodes';
import { isAvailable, resolveIntOrPercent } from './util';

export interface RolloutPlan {
  deletions: Pod[];
  /** Nodes that get a new pod beside their old one. */
  surges: string[];
}

/** A node's live pod of the current revision and its old one, or undefined if it has two of either. */
export function splitByRevision(all: Pod[], hash: string): { fresh?: Pod; old?: Pod } | undefined {
  const pods = all.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed');
  const fresh = pods.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash);
  const old = pods.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] !== hash);
  if (fresh.length > 1 || old.length > 1) return undefined;
  return { ...(fresh[0] ? { fresh: fresh[0] } : {}), ...(old[0] ? { old: old[0] } : {}) };
}

export function maxSurgeOf(ds: DaemonSet, desired: number): number {
  const rolling = ds.spec.updateStrategy?.rollingUpdate;
  return resolveIntOrPercent(rolling?.maxSurge ?? 0, desired, true);
}

/**
 * @param running each node that may keep its daemon pod -> its pods (terminating ones count as none).
 */
export function planRollingUpdate(
  ds: DaemonSet,
  running: Map<string, Pod[]>,
  desired: number,
  hash: string,
  now: number,
): RolloutPlan {
  const minReady = ds.spec.minReadySeconds ?? 0;
  const available = (p: Pod) => isAvailable(p, minReady, now);
  const maxSurge = maxSurgeOf(ds, desired);
  let maxUnavailable = resolveIntOrPercent(ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1, desired, true);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;

  if (maxSurge === 0) {
    let unavailable = 0;
    const free: Pod[] = [];
    const candidates: Pod[] = [];
    for (const pods of running.values()) {
      const split = splitByRevision(pods, hash);
      if (!split || (split.fresh && split.old) || (!split.fresh && !split.old)) unavailable++;
      else if (split.fresh) {
        if (!available(split.fresh)) unavailable++;
      } else if (split.old && !available(split.old)) free.push(split.old);
      else if (split.old && unavailable < maxUnavailable) candidates.push(split.old);
    }
    const room = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
    return { deletions: [...free, ...candidates.slice(0, room)], surges: [] };
  }

  let surging = 0;
  const deletions: Pod[] = [];
  const free: string[] = [];
  const candidates: string[] = [];
  for (const [node, pods] of running) {
    const split = splitByRevision(pods, hash);
    if (!split) {
      surging++;
      continue;
    }
    if (!split.old) continue;
    if (!split.fresh) {
      if (!available(split.old)) free.push(node);
      else if (surging < maxSurge) candidates.push(node);
      continue;
    }
    if (!available(split.fresh)) surging++;
    else deletions.push(split.old);
  }
  const room = Math.min(Math.max(0, maxSurge - surging), candidates.length);
  return { deletions, surges: [...free, ...candidates.slice(0, room)] };
}

/**
 * Of several live daemon pods on one node, the ones to delete (Kubernetes' podsShouldBeOnNode):
 * without surge all but the oldest; with surge the oldest new pod stays, and the oldest old one
 * too while the new one is not ready yet and the old one is.
 */
export function extraPods(pods: Pod[], hash: string, surge: boolean, ready: (p: Pod) => boolean): Pod[] {
  const byAge = [...pods].sort(
    (a, b) =>
      String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  if (!surge) return byAge.slice(1);
  const fresh = byAge.find((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash);
  const old = byAge.find((p) => p.metadata.labels?.[REVISION_HASH_LABEL] !== hash);
  const keep = new Set<Pod>();
  if (fresh) keep.add(fresh);
  if (old && (!fresh || (!ready(fresh) && ready(old)))) keep.add(old);
  return byAge.filter((p) => !keep.has(p));
}
