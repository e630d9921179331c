/**
 * Which pool grows when several could hold the pending pods (cluster-autoscaler's expanders,
 * chained as `--expander=priority,least-waste`): the highest `spec.autoscaling.priority` first;
 * among equals the least waste — the share of the new nodes' cpu and memory the pods would leave
 * idle, summed (expander/waste/waste.go); then the fewest new nodes, then the name, so the choice
 * is the same on every pass and in every process.
 */
export interface Option {
  group: string;
  priority: number;
  nodes: number;
  /** Requested by the pods the option helps (and the new nodes' DaemonSet pods). */
  cpu: number;
  mem: number;
  /** What the new nodes offer together. */
  allocCpu: number;
  allocMem: number;
}

export function waste(o: Option): number {
  const share = (used: number, alloc: number) => (alloc > 0 ? Math.max(0, alloc - used) / alloc : 0);
  return share(o.cpu, o.allocCpu) + share(o.mem, o.allocMem);
}

export function bestOption(options: readonly Option[]): Option | undefined {
  return [...options].sort(
    (a, b) =>
      b.priority - a.priority ||
      waste(a) - waste(b) ||
      a.nodes - b.nodes ||
      (a.group < b.group ? -1 : a.group > b.group ? 1 : 0),
  )[0];
}
