/**
 * A node group: one autoscaled NodePool as the planner sees it (cluster-autoscaler's NodeGroup):
 * its bounds and current target, its registered nodes, and what a new machine of it would be. The
 * node pool controller builds groups (it knows the pool's labels, its Cloud and the provider's
 * machine sizes); the planner only reads them, so it stays pure and testable without a cloud.
 */
import type { Node, NodePool, Taint } from '../../../schemas';
import type { PoolAutoscaling } from './settings';

export interface Group {
  name: string;
  pool: NodePool;
  settings: PoolAutoscaling;
  min: number;
  max: number;
  /** The autoscaler's current desired count (status.autoscaling.desiredNodes, within min..max). */
  target: number;
  /** Registered nodes of the pool in its Cloud that are not retiring. */
  nodes: Node[];
  /**
   * Those of `nodes` that registered but are not Ready yet, recently (an agent starting): still
   * upcoming. A node NotReady for longer is broken: it takes a place in the target, and no room.
   */
  booting: Node[];
  /** Zones of machines launched that have not registered yet (from the pool's launch records). */
  launched: string[];
  /** Nodes of the pool retiring now (any reason). */
  retiring: number;
  /**
   * What a new node of the pool is, or why that is not known (then the pool cannot be grown by
   * the autoscaler: no capacity to simulate against).
   */
  template: TemplateSpec | { unknown: string };
  /** Why the pool may not create machines now (churn back-off, Degraded), if it may not. */
  hold?: string;
  lastScaleUpTime?: string;
  /** When the autoscaler last retired a node of the pool (scale-down-delay-after-delete counts from it). */
  lastScaleDownTime?: string;
  unneeded: { node: string; since: string }[];
}

export interface TemplateSpec {
  /** Labels a new machine registers with, for each zone the pool would put its next machines in. */
  labelsFor(zone: string): Record<string, string>;
  /** The zones the next machines go to, in order (the pool's fewest-first choice). */
  nextZones(count: number): string[];
  /** Every zone of the pool: a pod that needs another zone than the next one gets its node there. */
  zones: string[];
  taints: Taint[];
  allocatable: Record<string, string>;
}

const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Machines the group expects that are not Ready nodes yet (booting, created, or still to be). */
export function upcoming(g: Group): number {
  return g.hold ? 0 : Math.max(0, g.target - g.nodes.length + g.booting.length);
}

/** The zones of the upcoming machines: booting nodes' and launched machines' own, then the pool's next choices. */
export function upcomingZones(g: Group, t: TemplateSpec): string[] {
  const n = upcoming(g);
  const known = [...g.booting.map((b) => b.metadata.labels?.[ZONE_LABEL] ?? ''), ...g.launched]
    .filter((z) => z !== '')
    .slice(0, n);
  return [...known, ...t.nextZones(n - known.length)];
}

export function isKnown(t: Group['template']): t is TemplateSpec {
  return !('unknown' in t);
}
