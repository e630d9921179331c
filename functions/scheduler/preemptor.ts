/**
 * A pass's preemptions (`preemption.ts` chooses them): at most one per node per pass, victims
 * never chosen twice, and carried out after the pass's binds — each victim deleted gracefully with
 * a `Preempted` event, as kube-scheduler does. The pods per node are indexed on first use only: a
 * pass with nothing unschedulable pays nothing.
 */
import type { Pod } from '../../schemas';
import type { Deps } from '../deps';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import type { PodContext } from './filters';
import { choosePreemption, type Preemption } from './preemption';
import type { NodeInfo } from './snapshot';

export class Preemptor {
  private byNode: Map<string, Pod[]> | undefined;
  private readonly taken = new Set<string>();
  private readonly chosen: (Preemption & { pod: Pod })[] = [];

  constructor(
    private readonly nodes: NodeInfo[],
    private readonly pods: Pod[],
  ) {}

  /** Chooses victims for an unschedulable pod; returns the node it nominates, if any. */
  consider(ctx: PodContext): string | undefined {
    if ((ctx.pod.spec.priority ?? 0) <= 0 || ctx.pod.spec.preemptionPolicy === 'Never') return undefined;
    const used = new Set(this.chosen.map((c) => c.node.name));
    const nodes = this.nodes.filter((n) => !used.has(n.name));
    const found = choosePreemption(ctx, nodes, (name) =>
      (this.index().get(name) ?? []).filter((p) => !this.taken.has(p.metadata.uid as string)),
    );
    if (!found) return undefined;
    for (const v of found.victims) this.taken.add(v.metadata.uid as string);
    this.chosen.push({ ...found, pod: ctx.pod });
    return found.node.name;
  }

  async evict(deps: Deps, events: boolean): Promise<void> {
    for (const { pod, node, victims } of this.chosen) {
      for (const victim of victims) {
        const ref = { kind: 'Pod', namespace: victim.metadata.namespace as string, name: victim.metadata.name };
        await deletePod(deps, ref);
        if (events)
          await recordEvent(
            deps,
            victim,
            'Normal',
            'Preempted',
            `Preempted by pod ${pod.metadata.uid} on node ${node.name}`,
            {
              component: 'default-scheduler',
            },
          );
      }
    }
  }

  private index(): Map<string, Pod[]> {
    if (this.byNode) return this.byNode;
    const byNode = new Map<string, Pod[]>();
    for (const p of this.pods) {
      const node = p.spec.nodeName;
      if (!node || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      byNode.set(node, [...(byNode.get(node) ?? []), p]);
    }
    this.byNode = byNode;
    return byNode;
  }
}
