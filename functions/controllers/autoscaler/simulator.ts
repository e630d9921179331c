/**
 * The scheduler run in memory over a cluster that may not exist yet (cluster-autoscaler's
 * ClusterSnapshot + PredicateChecker): real nodes as the scheduler sees them, template nodes
 * added as "what a new machine of this pool would be", and pods placed on them with the
 * scheduler's own filters (`firstFailure`: readiness, cordon, selectors, taints, node and pod
 * (anti-)affinity, spreading, volumes, ports, pod count, cpu, memory, other resources), so the
 * autoscaler never decides something the scheduler would then refuse. Nothing here writes.
 */
import type { DaemonSet, Node, Pod, Taint } from '../../../schemas';
import { Placement } from '../../scheduler/affinity';
import type { AllocationRecord } from '../../scheduler/allocation';
import { firstFailure, type PodContext, podContext } from '../../scheduler/filters';
import { podRequests } from '../../scheduler/requests';
import { assume, buildSnapshot, type NodeInfo, type Snapshot } from '../../scheduler/snapshot';
import type { VolumeBinder } from '../../scheduler/volumes';
import { nodeVerdict } from '../daemonset-nodes';

export interface ClusterView {
  now: number;
  nodes: Node[];
  pods: Pod[];
  records: AllocationRecord[];
  daemonSets: DaemonSet[];
  /** For pods with PersistentVolumeClaims (undefined: no pod has any). */
  binder?: VolumeBinder;
}

export class ClusterSim {
  readonly snapshot: Snapshot;
  private readonly placement: Placement;

  /** The cluster as it is, less the nodes in `without` (whose pods are then nowhere). */
  constructor(
    private readonly view: ClusterView,
    without: ReadonlySet<string> = new Set(),
  ) {
    const nodes = without.size ? view.nodes.filter((n) => !without.has(n.metadata.name)) : view.nodes;
    this.snapshot = buildSnapshot(nodes, view.pods, view.records, view.now);
    this.placement = new Placement(this.snapshot.nodes, this.snapshot.byName, view.pods);
  }

  get nodes(): NodeInfo[] {
    return this.snapshot.nodes;
  }

  /** The pod's checks against the nodes as they are now (rebuilt after nodes are added). */
  context(pod: Pod): PodContext | { unresolvable: string } {
    const ctx = podContext(pod);
    const checks = this.placement.forPod(pod);
    if (checks) ctx.placement = checks;
    const volumes = this.view.binder?.forPod(pod);
    if (volumes?.unresolvable) return { unresolvable: volumes.unresolvable };
    if (volumes) ctx.volumes = volumes;
    return ctx;
  }

  /** Why `info` cannot take the pod, or undefined. */
  failure(info: NodeInfo, ctx: PodContext): string | undefined {
    return firstFailure(info, ctx);
  }

  /** The first node of `among` (default: every node) that takes the pod, placed there. */
  place(ctx: PodContext, among: readonly NodeInfo[] = this.snapshot.nodes): NodeInfo | undefined {
    for (const info of among) {
      if (firstFailure(info, ctx)) continue;
      this.commit(ctx, info);
      return info;
    }
    return undefined;
  }

  /** Accounts the pod on the node, as the scheduler's assume step does. */
  commit(ctx: PodContext, info: NodeInfo): void {
    assume(this.snapshot, info, ctx.pod, ctx.cpu, ctx.mem, ctx.hostPorts, ctx.other);
    this.placement.add(ctx.pod, info);
  }

  /**
   * Whether `pods` all fit on the nodes left once the nodes in `without` are gone, tried on this
   * snapshot in place and undone after: no new snapshot per question (scale-down asks it for every
   * candidate node). Only for pods without affinity, spreading or claims, in a cluster where no pod
   * has required anti-affinity (nothing but the nodes' usage decides then); 'complex' otherwise,
   * and the caller builds a snapshot without the nodes (the constructor's `without`).
   * Returns the first pod that fits nowhere, or undefined when all fit.
   */
  firstUnplaceable(pods: readonly Pod[], without: ReadonlySet<string>): Pod | undefined | 'complex' {
    const contexts: PodContext[] = [];
    for (const pod of pods) {
      const ctx = this.context(pod);
      if ('unresolvable' in ctx || ctx.placement || ctx.volumes) return 'complex';
      contexts.push(ctx);
    }
    const saved = new Map<NodeInfo, Usage>();
    try {
      for (const ctx of contexts) {
        const info = this.snapshot.nodes.find((n) => !without.has(n.name) && !firstFailure(n, ctx));
        if (!info) return ctx.pod;
        if (!saved.has(info)) saved.set(info, usageOf(info));
        info.usedCpu += ctx.cpu;
        info.usedMem += ctx.mem;
        info.usedPods += 1;
        if (ctx.other) info.usedOther = addTo({ ...info.usedOther }, ctx.other);
        if (ctx.hostPorts.length) info.hostPorts = new Set([...info.hostPorts, ...ctx.hostPorts]);
      }
      return undefined;
    } finally {
      for (const [info, u] of saved) Object.assign(info, u);
    }
  }

  /** A template node as a NodeInfo outside the cluster: what an empty new machine offers. */
  probe(node: Node): NodeInfo {
    return withDaemons(buildSnapshot([node], [], [], this.view.now).nodes[0] as NodeInfo, this.view.daemonSets);
  }

  /** Adds a template node to the simulated cluster; later contexts see it (spreading, anti-affinity). */
  add(node: Node): NodeInfo {
    const info = this.probe(node);
    info.index = this.snapshot.nodes.length;
    this.snapshot.nodes.push(info);
    this.snapshot.byName.set(info.name, info);
    return info;
  }
}

/**
 * A new node runs the DaemonSets that select it before any pending pod: their requests are taken
 * from its room first (cluster-autoscaler's DaemonSet pods on template nodes).
 */
function withDaemons(info: NodeInfo, daemonSets: DaemonSet[]): NodeInfo {
  for (const ds of daemonSets) {
    if (ds.metadata.deletionTimestamp || !nodeVerdict(ds, info.node).shouldRun) continue;
    const { cpu, mem } = podRequests({ spec: ds.spec.template.spec } as Pod);
    info.usedCpu += cpu;
    info.usedMem += mem;
    info.usedPods += 1;
  }
  return info;
}

/** A Node that stands for a machine the pool would make: Ready, with the pool's labels and taints. */
export function templateNode(
  name: string,
  labels: Record<string, string>,
  taints: Taint[],
  allocatable: Record<string, string>,
): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { ...labels, 'kubernetes.io/hostname': name } },
    spec: taints.length ? { taints } : {},
    status: {
      capacity: allocatable,
      allocatable,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Template' }],
    },
  };
}

type Usage = Pick<NodeInfo, 'usedCpu' | 'usedMem' | 'usedPods' | 'usedOther' | 'hostPorts'>;

function usageOf(n: NodeInfo): Usage {
  return {
    usedCpu: n.usedCpu,
    usedMem: n.usedMem,
    usedPods: n.usedPods,
    usedOther: n.usedOther,
    hostPorts: n.hostPorts,
  };
}

function addTo(into: Record<string, number>, other: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(other)) into[k] = (into[k] ?? 0) + v;
  return into;
}
