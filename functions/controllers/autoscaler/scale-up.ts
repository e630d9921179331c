/**
 * Scale-up (cluster-autoscaler's ScaleUp with the binpacking estimator), pure: which pools get how
 * many new nodes for the pods the scheduler marked Unschedulable.
 *
 * 1. Pods that fit a node that is there, or one the pool is already making (its target is above
 *    its Ready nodes: "upcoming" nodes, simulated as template nodes in the zones they are made
 *    in), wait: nothing is added for them, so a pass that runs while machines boot never asks twice.
 * 2. For the rest, each pool that may grow estimates how many template nodes its pods need,
 *    first fit over the pods (those fitting fewer zones, then the largest, first; a new node in the
 *    pool's next zone, else in a zone the pod needs), at most up to `maxNodes` and the budget; the
 *    expander (expander.ts) picks one pool, whose nodes join the simulation; the others estimate
 *    again over the pods left, until no pool helps or the budget is spent.
 * 3. Pods left get the reasons every pool gave (kube-scheduler's words for the template node,
 *    "max node group size reached", "in backoff after failed scale-up"), for a NotTriggerScaleUp
 *    Event.
 */
import type { Pod } from '../../../schemas';
import { findCondition } from '../../../schemas/conditions';
import type { PodContext } from '../../scheduler/filters';
import { isPending, type NodeInfo } from '../../scheduler/snapshot';
import { bestOption, type Option } from './expander';
import { type Group, isKnown, type TemplateSpec, upcoming, upcomingZones } from './group';
import { ClusterSim, type ClusterView, templateNode } from './simulator';

export const REASON_MAX_SIZE = 'max node group size reached';
export const REASON_BACKOFF = 'in backoff after failed scale-up';
export const REASON_PASS_LIMIT = 'max new nodes per pass reached';

export interface ScaleUpResult {
  /** New nodes per pool. */
  add: Map<string, number>;
  /** The zone of each new node, per pool (the node pool creates them there). */
  zones: Map<string, string[]>;
  /** Pods a scale-up is for, with their pool. */
  triggered: { pod: Pod; group: string }[];
  /** Pods no pool could take, with why, in cluster-autoscaler's message. */
  notTriggered: { pod: Pod; message: string }[];
  /** Unschedulable pods that fit a node that is there or coming. */
  waiting: number;
  /** Pools that would have grown further but for maxNodes. */
  atMax: Set<string>;
}

interface Added {
  group: Group;
  zone: string;
}

type Placed = [pod: Pod, node: string];

/** Pods the scheduler tried and could not place, that no preemption is making room for. */
export function unschedulablePods(pods: readonly Pod[]): Pod[] {
  return pods.filter((p) => {
    if (!isPending(p) || p.status?.nominatedNodeName) return false;
    const c = findCondition(p, 'PodScheduled');
    return c?.status === 'False' && c.reason === 'Unschedulable';
  });
}

export function planScaleUp(view: ClusterView, groups: readonly Group[], maxNewNodes: number): ScaleUpResult {
  const result: ScaleUpResult = {
    add: new Map(),
    zones: new Map(),
    triggered: [],
    notTriggered: [],
    waiting: 0,
    atMax: new Set(),
  };
  const candidates = new Set(unschedulablePods(view.pods).map((p) => p.metadata.uid));
  // Nothing unschedulable (most passes): no snapshot of the cluster to build.
  if (candidates.size === 0) return result;
  const added: Added[] = [];
  const placed: Placed[] = [];
  const build = () => rebuild(view, groups, added, placed);

  // 1. What fits a node that is there or coming waits for it.
  let remaining: Pod[] = [];
  const base = build();
  for (const pod of base.snapshot.pending) {
    if (!candidates.has(pod.metadata.uid)) continue;
    const ctx = base.context(pod);
    if ('unresolvable' in ctx) {
      result.notTriggered.push({ pod, message: `pod didn't trigger scale-up: ${ctx.unresolvable}` });
      continue;
    }
    const node = base.place(ctx);
    if (node) {
      placed.push([pod, node.name]);
      result.waiting++;
    } else remaining.push(pod);
  }

  // 2. One pool at a time, the expander's choice, while pods are left and the budget lasts.
  let budget = maxNewNodes;
  const used = new Set<string>();
  while (remaining.length > 0 && budget > 0) {
    const estimates: { option: Option; helped: Placed[]; zones: string[] }[] = [];
    for (const g of groups) {
      const room = g.max - g.target;
      if (used.has(g.name) || g.hold || !isKnown(g.template) || room <= 0) continue;
      const est = estimate(build(), g, g.template, remaining, Math.min(room, budget), added.length);
      if (est.limitedByMax) result.atMax.add(g.name);
      if (est.helped.length > 0) estimates.push(est);
    }
    const best = bestOption(estimates.map((e) => e.option));
    const chosen = estimates.find((e) => e.option === best);
    if (!chosen || !best) break;
    const g = groups.find((x) => x.name === best.group) as Group;
    used.add(g.name);
    result.add.set(g.name, best.nodes);
    result.zones.set(g.name, chosen.zones);
    budget -= best.nodes;
    for (const zone of chosen.zones) added.push({ group: g, zone });
    placed.push(...chosen.helped);
    const helped = new Set(chosen.helped.map(([p]) => p.metadata.uid));
    for (const pod of remaining) if (helped.has(pod.metadata.uid)) result.triggered.push({ pod, group: g.name });
    remaining = remaining.filter((p) => !helped.has(p.metadata.uid));
  }

  // 3. Why the rest stays pending.
  if (remaining.length > 0) {
    const sim = build();
    // One empty template node per zone of each pool, the pool's next zone first (its reason is the one shown).
    const probes = new Map(
      groups.map((g) => [g.name, isKnown(g.template) ? zoneProbes(sim, g, g.template) : []] as const),
    );
    for (const pod of remaining) {
      const ctx = sim.context(pod);
      const reasons = new Map<string, number>();
      const count = (r: string) => reasons.set(r, (reasons.get(r) ?? 0) + 1);
      for (const g of groups) {
        if (!isKnown(g.template)) count(g.template.unknown);
        else if ('unresolvable' in ctx) count(ctx.unresolvable);
        else {
          const why = firstFailureOf(sim, probes.get(g.name) ?? [], ctx);
          if (why) count(why);
          else if (g.hold) count(REASON_BACKOFF);
          else if (g.max - g.target - (result.add.get(g.name) ?? 0) <= 0) count(REASON_MAX_SIZE);
          else count(REASON_PASS_LIMIT);
        }
      }
      const parts = [...reasons].map(([r, n]) => `${n} ${r}`).sort();
      result.notTriggered.push({ pod, message: `pod didn't trigger scale-up: ${parts.join(', ')}` });
    }
  }
  return result;
}

/** The cluster as it is plus every node coming or decided in this pass, with the pods placed so far. */
function rebuild(view: ClusterView, groups: readonly Group[], added: readonly Added[], placed: readonly Placed[]) {
  const sim = new ClusterSim(view);
  for (const g of groups) {
    if (!isKnown(g.template)) continue;
    const t = g.template;
    upcomingZones(g, t).forEach((zone, i) => {
      sim.add(templateNode(`template-${g.name}-upcoming-${i}`, t.labelsFor(zone), t.taints, t.allocatable));
    });
  }
  added.forEach(({ group, zone }, i) => {
    const t = group.template as TemplateSpec;
    sim.add(templateNode(`template-${group.name}-new-${i}`, t.labelsFor(zone), t.taints, t.allocatable));
  });
  for (const [pod, node] of placed) {
    const ctx = sim.context(pod);
    const info = sim.snapshot.byName.get(node);
    if (info && !('unresolvable' in ctx)) sim.commit(ctx, info);
  }
  return sim;
}

/** How many new nodes of `g` the pods need (first fit, largest pods first), at most `limit`. */
function estimate(sim: ClusterSim, g: Group, t: TemplateSpec, pods: readonly Pod[], limit: number, firstIndex: number) {
  const planned = t.nextZones(upcoming(g) + limit).slice(upcoming(g));
  const zones: string[] = [];
  const alloc = sim.probe(templateNode('size', {}, [], t.allocatable));
  const size = (c: PodContext) =>
    (alloc.allocCpu ? c.cpu / alloc.allocCpu : 0) + (alloc.allocMem ? c.mem / alloc.allocMem : 0);
  // Pods that fit fewer of the pool's zones first (a zone-pinned pod opens the node in its zone,
  // where the others can join it), then the largest first (binpacking's first fit decreasing).
  const probes = t.zones.map((zone) => sim.probe(templateNode('zone', t.labelsFor(zone), t.taints, t.allocatable)));
  const contexts = pods
    .map((pod) => sim.context(pod))
    .filter((c): c is PodContext => !('unresolvable' in c))
    .map((c) => ({ c, zones: probes.filter((p) => !sim.failure(p, c)).length }))
    .filter((x) => x.zones > 0)
    .sort((a, b) => a.zones - b.zones || size(b.c) - size(a.c))
    .map((x) => x.c);
  const fresh: NodeInfo[] = [];
  const helped: Placed[] = [];
  let limitedByMax = false;
  for (const first of contexts) {
    const ctx = sim.context(first.pod) as PodContext; // sees the nodes added so far
    let node = sim.place(ctx, fresh);
    if (!node) {
      const next = planned[fresh.length];
      if (next === undefined) {
        limitedByMax ||= limit === g.max - g.target;
        continue;
      }
      // Named as rebuild() names the nodes decided, so the placements replay onto them.
      const name = `template-${g.name}-new-${firstIndex + fresh.length}`;
      // The pool's next zone, else the first other zone whose node would take the pod (a pod
      // pinned or spread to a zone gets its node there: the node pool is told where).
      const fits = [next, ...t.zones.filter((z) => z !== next)]
        .map((zone) => ({ zone, node: templateNode(name, t.labelsFor(zone), t.taints, t.allocatable) }))
        .find((c) => !sim.failure(sim.probe(c.node), ctx));
      if (!fits) continue;
      node = sim.add(fits.node);
      zones.push(fits.zone);
      fresh.push(node);
      sim.commit(ctx, node);
    }
    helped.push([first.pod, node.name]);
  }
  const option: Option = {
    group: g.name,
    priority: g.settings.priority,
    nodes: fresh.length,
    cpu: fresh.reduce((s, n) => s + n.usedCpu, 0),
    mem: fresh.reduce((s, n) => s + n.usedMem, 0),
    allocCpu: fresh.reduce((s, n) => s + n.allocCpu, 0),
    allocMem: fresh.reduce((s, n) => s + n.allocMem, 0),
  };
  return { option, helped, zones, limitedByMax };
}

/** The pool's empty template node in each of its zones, its next zone first. */
function zoneProbes(sim: ClusterSim, g: Group, t: TemplateSpec): NodeInfo[] {
  const next = t.nextZones(upcoming(g) + 1).at(-1) ?? t.zones[0] ?? '';
  return [next, ...t.zones.filter((z) => z !== next)].map((zone) =>
    sim.probe(templateNode(`template-${g.name}`, t.labelsFor(zone), t.taints, t.allocatable)),
  );
}

/** Why none of the probes takes the pod (the first one's reason), or undefined if one does. */
function firstFailureOf(sim: ClusterSim, probes: readonly NodeInfo[], ctx: PodContext): string | undefined {
  let first: string | undefined;
  for (const probe of probes) {
    const why = sim.failure(probe, ctx);
    if (!why) return undefined;
    first ??= why;
  }
  return first;
}
