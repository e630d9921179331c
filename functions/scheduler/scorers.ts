/**
 * Scoring. Candidates are compared lexicographically, not by a weighted sum, so spreading a
 * ReplicaSet's pods always wins over packing: fewest pods of the same owner on the node, then in
 * the zone, then the least allocated node (kube-scheduler's PodTopologySpread, then
 * NodeResourcesLeastAllocated).
 */
import type { PodContext } from './filters';
import { controllerOf, type NodeInfo, type Snapshot } from './snapshot';

/**
 * The best candidate of one `select`, kept without allocating a score per node (a pass scores up to
 * 100 nodes for each of thousands of pods). `offer` replaces the best when `node` scores better.
 */
export class BestNode {
  node: NodeInfo | undefined;
  private onNode = 0;
  private inZone = 0;
  /** Share of CPU and memory left after placing the pod, 0..1; higher is better. */
  private free = 0;
  /** The pod's affinity/spreading preference for the node (affinity.ts): compared first. */
  private preference = 0;
  private readonly counts: { nodes: Int32Array; zones: Int32Array } | undefined;

  constructor(
    private readonly ctx: PodContext,
    snapshot: Snapshot,
  ) {
    const owner = controllerOf(ctx.pod);
    this.counts = owner ? snapshot.spread.of(owner) : undefined;
  }

  offer(node: NodeInfo): void {
    const preference = this.ctx.placement?.score(node) ?? 0;
    if (this.node && preference !== this.preference) {
      if (preference < this.preference) return;
      this.take(node, preference);
      return;
    }
    const onNode = this.counts ? (this.counts.nodes[node.index] as number) : 0;
    const inZone = this.counts ? (this.counts.zones[node.zoneIndex] as number) : 0;
    if (this.node) {
      if (onNode !== this.onNode) {
        if (onNode > this.onNode) return;
      } else if (inZone !== this.inZone) {
        if (inZone > this.inZone) return;
      }
    }
    const free =
      ((node.allocCpu > 0 ? (node.allocCpu - node.usedCpu - this.ctx.cpu) / node.allocCpu : 0) +
        (node.allocMem > 0 ? (node.allocMem - node.usedMem - this.ctx.mem) / node.allocMem : 0)) /
      2;
    if (this.node && onNode === this.onNode && inZone === this.inZone && free <= this.free) return;
    this.node = node;
    this.preference = preference;
    this.onNode = onNode;
    this.inZone = inZone;
    this.free = free;
  }

  /** A node preferred outright: its spread and free-share figures start the comparison anew. */
  private take(node: NodeInfo, preference: number): void {
    this.node = undefined;
    this.preference = preference;
    this.offer(node);
  }
}
