/**
 * Picks a node for one pod: filters in order, then scores the feasible ones.
 *
 * Order (Nomad's feasible/stack.go reasoning: cheap and most selective first): readiness and
 * cordon are one field each and rule out whole nodes; selector and taints compare a few labels;
 * ports, pod count and resources need the accumulated usage, and resources fail most often on a
 * busy cluster, so they come last where their reason is the one reported.
 *
 * Large clusters: like kube-scheduler (percentageOfNodesToScore, minFeasibleNodesToFind = 100) and
 * Nomad (its limit iterator scores only a few feasible nodes), stop after finding 100 feasible
 * nodes, starting where the previous pod stopped so every node gets its turn. Clusters of up to
 * 100 nodes are always scored in full, so spreading there is exact.
 */
import * as f from './filters';
import { compareScores, type Score, score } from './scorers';
import { controllerOf, type NodeInfo, type Snapshot } from './snapshot';

const FILTERS: f.Filter[] = [
  f.nodeReady,
  f.nodeSchedulable,
  f.nodeSelector,
  f.taints,
  f.hostPorts,
  f.podCount,
  f.cpu,
  f.memory,
];
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

  select(ctx: f.PodContext): Choice {
    const nodes = this.snapshot.nodes;
    const want = feasibleNodesToFind(nodes.length);
    const reasons = new Map<string, number>();
    let best: NodeInfo | undefined;
    let bestScore: Score | undefined;
    const owner = controllerOf(ctx.pod);
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
      const s = score(node, ctx, this.snapshot, owner);
      if (!bestScore || compareScores(s, bestScore) < 0) {
        best = node;
        bestScore = s;
      }
    }
    this.offset = (this.offset + i) % Math.max(1, nodes.length);
    return best ? { node: best, reasons } : { reasons };
  }
}

function firstFailure(node: NodeInfo, ctx: f.PodContext): string | undefined {
  for (const filter of FILTERS) {
    const reason = filter(node, ctx);
    if (reason) return reason;
  }
  return undefined;
}

/** `0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu.` */
export function unschedulableMessage(total: number, reasons: Map<string, number>): string {
  const parts = [...reasons.entries()].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${total} nodes are available${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}
