/**
 * Scoring. Candidates are compared lexicographically, not by a weighted sum, so spreading a
 * ReplicaSet's pods always wins over packing: fewest pods of the same owner on the node, then in
 * the zone, then the least allocated node (kube-scheduler's PodTopologySpread, then
 * NodeResourcesLeastAllocated).
 */
import type { PodContext } from './filters';
import { controllerOf, type NodeInfo, type Snapshot } from './snapshot';

export interface Score {
  sameOwnerOnNode: number;
  sameOwnerInZone: number;
  /** Share of CPU and memory left after placing the pod, 0..1; higher is better. */
  free: number;
}

export function score(node: NodeInfo, ctx: PodContext, snapshot: Snapshot, owner = controllerOf(ctx.pod)): Score {
  const free =
    ((node.allocCpu > 0 ? (node.allocCpu - node.usedCpu - ctx.cpu) / node.allocCpu : 0) +
      (node.allocMem > 0 ? (node.allocMem - node.usedMem - ctx.mem) / node.allocMem : 0)) /
    2;
  return {
    sameOwnerOnNode: owner ? (node.owners.get(owner) ?? 0) : 0,
    sameOwnerInZone: owner ? (snapshot.zoneOwners.get(node.zone)?.get(owner) ?? 0) : 0,
    free,
  };
}

/** Negative when `a` is the better placement. */
export function compareScores(a: Score, b: Score): number {
  return a.sameOwnerOnNode - b.sameOwnerOnNode || a.sameOwnerInZone - b.sameOwnerInZone || b.free - a.free;
}
