/**
 * Scale-down (cluster-autoscaler's ScaleDown: unneeded nodes, then removal), pure.
 *
 * A node of an autoscaled pool is *unneeded* when its pods' requested cpu and memory are both
 * under the pool's `scaleDownUtilizationThreshold` of its allocatable, no pod on it keeps it
 * (drainable.ts: no controller, local storage, `safe-to-evict: "false"`, a budget) and every pod
 * that would move fits on another node (the scheduler's filters, simulated without the node).
 * A node unneeded for `scaleDownUnneededSeconds` in a row is removed, one at a time by default,
 * never below `minNodes`, never in a pass that grew a pool nor within `scaleDownDelayAfterAddSeconds`
 * of the pool's last growth, nor within `scaleDownDelayAfterDeleteSeconds` of its last removal
 * (`status.autoscaling.lastScaleDownTime`). Removal is the node pool's drained retirement, so budgets hold there too.
 * Empty nodes need no simulation; nodes with pods are simulated up to MAX_SIMULATED a pass.
 */
import type { Node, Pod, PodDisruptionBudget } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { budgetBlocker, podBlocker, podsToMove, type Volumes } from './drainable';
import type { Group } from './group';
import { SCALE_DOWN_DISABLED } from './settings';
import { ClusterSim, type ClusterView } from './simulator';

export interface ScaleDownInput {
  view: ClusterView;
  groups: readonly Group[];
  budgets: readonly PodDisruptionBudget[];
  volumes: Volumes;
  /** A pool grew in this pass: nothing is removed (cluster-autoscaler skips scale-down after a scale-up). */
  scaledUp: boolean;
  /** Nodes of autoscaled pools retiring for scale-down now, and how many may at once. */
  retiring: number;
  parallelism: number;
}

export interface Removal {
  group: string;
  node: string;
  message: string;
}

export interface ScaleDownResult {
  /** Per pool: its unneeded nodes and since when (what status.autoscaling.unneeded keeps). */
  unneeded: Map<string, { node: string; since: string }[]>;
  removals: Removal[];
  /** Per pool: why each node it keeps is needed, one line a node (for the ScaleDown condition). */
  needed: Map<string, string[]>;
}

interface Candidate {
  group: Group;
  node: Node;
  since: number;
  utilization: number;
  moving: Pod[];
  /** Unneeded at the last check, not simulated in this pass (over MAX_SIMULATED): kept, not removed. */
  unchecked?: boolean;
}

/**
 * Nodes with pods simulated per pass (cluster-autoscaler's --scale-down-non-empty-candidates-count,
 * default 30): each simulation is a scheduler snapshot of the cluster, so a pass stays bounded
 * however many nodes are under the threshold; the rest wait for a later pass.
 */
export const MAX_SIMULATED = 30;

export function planScaleDown(input: ScaleDownInput): ScaleDownResult {
  const { view, groups } = input;
  const now = view.now;
  const result: ScaleDownResult = { unneeded: new Map(), removals: [], needed: new Map() };
  const base = new ClusterSim(view);
  const podsOn = new Map<string, Pod[]>();
  for (const p of view.pods)
    if (p.spec.nodeName) podsOn.set(p.spec.nodeName, [...(podsOn.get(p.spec.nodeName) ?? []), p]);

  // Cheap checks first, for every node; the simulation (a scheduler snapshot without the node)
  // only for the nodes that pass them, and at most MAX_SIMULATED nodes with pods a pass.
  const candidates: Candidate[] = [];
  const toSimulate: (Candidate & { previous: boolean })[] = [];
  for (const g of groups) {
    const needed: string[] = [];
    for (const node of g.nodes) {
      const name = node.metadata.name;
      const info = base.snapshot.byName.get(name);
      const why = (() => {
        if (!info?.ready) return 'not Ready';
        if (node.spec?.unschedulable) return 'cordoned';
        if (node.metadata.annotations?.[SCALE_DOWN_DISABLED] === 'true')
          return `annotated ${SCALE_DOWN_DISABLED}: "true"`;
        const cpu = info.allocCpu > 0 ? info.usedCpu / info.allocCpu : 1;
        const mem = info.allocMem > 0 ? info.usedMem / info.allocMem : 1;
        if (Math.max(cpu, mem) >= g.settings.threshold)
          return `cpu ${pct(cpu)} and memory ${pct(mem)} requested: not both under the ${pct(g.settings.threshold)} threshold`;
        const moving = podsToMove(podsOn.get(name) ?? []);
        const blocker = moving.map((p) => podBlocker(p, input.volumes)).find((b) => b !== undefined);
        if (blocker) return blocker;
        const budget = budgetBlocker(moving, input.budgets);
        if (budget) return budget;
        const since = Date.parse(g.unneeded.find((u) => u.node === name)?.since ?? '');
        const c = { group: g, node, since: Number.isNaN(since) ? now : since, utilization: Math.max(cpu, mem), moving };
        if (moving.length === 0) candidates.push(c);
        else toSimulate.push({ ...c, previous: !Number.isNaN(since) });
        return undefined;
      })();
      if (why) needed.push(`${name}: ${why}`);
    }
    result.needed.set(g.name, needed);
  }
  // Nodes already unneeded first (their timers run), then the emptiest.
  toSimulate.sort(
    (a, b) => Number(b.previous) - Number(a.previous) || a.since - b.since || a.utilization - b.utilization,
  );
  for (const [i, c] of toSimulate.entries()) {
    const stuck =
      i < MAX_SIMULATED ? unmovable(view, base, new Set([c.node.metadata.name]), c.moving) : 'not simulated';
    if (!stuck) candidates.push(c);
    else if (i >= MAX_SIMULATED && c.previous) candidates.push({ ...c, unchecked: true });
    else if (i < MAX_SIMULATED) result.needed.get(c.group.name)?.push(`${c.node.metadata.name}: ${stuck}`);
  }
  for (const g of groups)
    result.unneeded.set(
      g.name,
      candidates
        .filter((c) => c.group === g)
        .map((c) => ({ node: c.node.metadata.name, since: isoTime(c.since) }))
        .sort((a, b) => cmp(a.node, b.node)),
    );

  if (input.scaledUp) return result;
  let room = input.parallelism - input.retiring;
  const leaving = new Map<string, number>();
  const gone = new Set<string>();
  const moved: Pod[] = [];
  const ripe = candidates
    .filter((c) => !c.unchecked && now - c.since >= c.group.settings.unneededMs)
    .sort(
      (a, b) => a.since - b.since || a.utilization - b.utilization || cmp(a.node.metadata.name, b.node.metadata.name),
    );
  for (const c of ripe) {
    if (room <= 0) break;
    const g = c.group;
    if (within(now, g.lastScaleUpTime, g.settings.delayAfterAddMs)) continue;
    if (within(now, g.lastScaleDownTime, g.settings.delayAfterDeleteMs)) continue;
    if (g.target - (leaving.get(g.name) ?? 0) - 1 < g.min) continue;
    // Removed together, their pods must fit the rest together.
    const without = new Set([...gone, c.node.metadata.name]);
    if (gone.size > 0 && unmovable(view, base, without, [...moved, ...c.moving])) continue;
    gone.add(c.node.metadata.name);
    moved.push(...c.moving);
    leaving.set(g.name, (leaving.get(g.name) ?? 0) + 1);
    room--;
    result.removals.push({
      group: g.name,
      node: c.node.metadata.name,
      message: `unneeded for ${Math.round((now - c.since) / 1000)} s (${pct(c.utilization)} requested, under ${pct(g.settings.threshold)}); its ${c.moving.length} pod(s) fit on other nodes`,
    });
  }
  return result;
}

/** The first pod that fits no node once the nodes in `without` are gone, as a reason; undefined if all fit. */
function unmovable(
  view: ClusterView,
  base: ClusterSim,
  without: ReadonlySet<string>,
  pods: readonly Pod[],
): string | undefined {
  if (pods.length === 0) return undefined;
  const quick = base.firstUnplaceable(pods, without);
  if (quick !== 'complex')
    return quick ? `pod ${quick.metadata.namespace}/${quick.metadata.name} fits on no other node` : undefined;
  const sim = new ClusterSim(view, without);
  for (const pod of pods) {
    const { nodeName: _bound, ...spec } = pod.spec;
    const ctx = sim.context({ ...pod, spec });
    if ('unresolvable' in ctx || !sim.place(ctx))
      return `pod ${pod.metadata.namespace}/${pod.metadata.name} fits on no other node`;
  }
  return undefined;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `time` (an ISO time, if any) is less than `ms` before now. */
function within(now: number, time: string | undefined, ms: number): boolean {
  const at = Date.parse(time ?? '');
  return !Number.isNaN(at) && now - at < ms;
}
