/**
 * Picks a node for one pod: filters (filters.ts), then scores the feasible ones (scorers.ts).
 *
 * Large clusters: like kube-scheduler (percentageOfNodesToScore, minFeasibleNodesToFind = 100) and
 * Nomad (its limit iterator scores only a few feasible nodes), stop after finding 100 feasible
 * nodes, starting where the previous pod stopped so every node gets its turn. Clusters of up to
 * 100 nodes are always scored in full, so spreading there is exact.
 */
import { firstFailure, type PodContext } from './filters';
import { BestNode } from './scorers';
import type { NodeInfo, Snapshot } from './snapshot';

const MIN_FEASIBLE = 100;

export interface Choice {
  node?: NodeInfo;
  /** reason -> number of nodes that gave it (for the FailedScheduling message). */
  reasons: Map<string, number>;
}

export function feasibleNodesToFind(total: number): number {
  return Math.min(total, MIN_FEASIBLE);
}

export class Stack {
  private offset = 0;

  constructor(private readonly snapshot: Snapshot) {}

  select(ctx: PodContext): Choice {
    const nodes = this.snapshot.nodes;
    const want = feasibleNodesToFind(nodes.length);
    const reasons = new Map<string, number>();
    const best = new BestNode(ctx, this.snapshot);
    let found = 0;
    let i = 0;
    for (; i < nodes.length && found < want; i++) {
      const node = nodes[(this.offset + i) % nodes.length] as NodeInfo;
      const reason = firstFailure(node, ctx);
      if (reason) {
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        continue;
      }
      found++;
      best.offer(node);
    }
    this.offset = (this.offset + i) % Math.max(1, nodes.length);
    return best.node ? { node: best.node, reasons } : { reasons };
  }
}

/** `0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu.` */
export function unschedulableMessage(total: number, reasons: Map<string, number>): string {
  const parts = [...reasons.entries()].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${total} nodes are available${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}
