/**
 * The scheduler's view of the cluster for one pass, built from one list of nodes, pods and
 * allocation records, then updated in memory as the pass places pods (the "assume" step of
 * kube-scheduler), so a pass never reads the store per pod.
 */
import { bytes, cpuMillis, type Node, type Pod, type Taint } from '../../schemas';
import { isConditionTrue } from '../../schemas/conditions';
import type { Obj } from '../store/types';
import { type AllocationRecord, pruneEntries, type Reservation, reservationOf } from './allocation';
import { addOther, otherAllocatable } from './requests';

export interface NodeInfo {
  node: Node;
  name: string;
  /** Position in `Snapshot.nodes`, and of the zone in the snapshot's zone list. */
  index: number;
  zone: string;
  zoneIndex: number;
  ready: boolean;
  /** The taints that can keep a pod off (NoSchedule, NoExecute). */
  taints: Taint[];
  allocCpu: number;
  allocMem: number;
  allocPods: number;
  /** Allocatable resources besides cpu, memory and pods (ephemeral-storage, extended resources). */
  allocOther: Record<string, number>;
  /** Sums over the node's allocation record: bound pods plus fresh reservations. */
  usedCpu: number;
  usedMem: number;
  usedPods: number;
  usedOther: Record<string, number>;
  hostPorts: Set<string>;
  record: AllocationRecord | undefined;
  entries: Map<string, Reservation>;
}

export interface Snapshot {
  nodes: NodeInfo[];
  byName: Map<string, NodeInfo>;
  spread: OwnerCounts;
  pending: Pod[];
}

/**
 * How many pods of each controller owner (a ReplicaSet) sit on each node and in each zone: what
 * spreading scores. Dense per-owner arrays, built the first time an owner's pod is placed, so
 * scoring a node is two array reads (a pass scores up to 100 nodes for each of thousands of pods).
 */
export class OwnerCounts {
  private readonly seen = new Map<string, number[]>();
  private readonly dense = new Map<string, { nodes: Int32Array; zones: Int32Array }>();

  constructor(
    private readonly nodes: NodeInfo[],
    private readonly zoneCount: number,
  ) {}

  add(owner: string, node: NodeInfo): void {
    const d = this.dense.get(owner);
    if (!d) {
      const list = this.seen.get(owner);
      if (list) list.push(node.index);
      else this.seen.set(owner, [node.index]);
      return;
    }
    d.nodes[node.index] = (d.nodes[node.index] ?? 0) + 1;
    d.zones[node.zoneIndex] = (d.zones[node.zoneIndex] ?? 0) + 1;
  }

  of(owner: string): { nodes: Int32Array; zones: Int32Array } {
    let d = this.dense.get(owner);
    if (!d) {
      d = { nodes: new Int32Array(this.nodes.length), zones: new Int32Array(this.zoneCount) };
      for (const i of this.seen.get(owner) ?? []) {
        d.nodes[i] = (d.nodes[i] ?? 0) + 1;
        const zone = (this.nodes[i] as NodeInfo).zoneIndex;
        d.zones[zone] = (d.zones[zone] ?? 0) + 1;
      }
      this.seen.delete(owner);
      this.dense.set(owner, d);
    }
    return d;
  }
}

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function controllerOf(obj: Obj): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

export function isPending(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return (
    !pod.spec.nodeName &&
    !pod.metadata.deletionTimestamp &&
    phase !== 'Succeeded' &&
    phase !== 'Failed' &&
    (pod.spec.schedulerName === undefined || pod.spec.schedulerName === 'default-scheduler')
  );
}

/** uid -> bound node name ('' while pending) for every pod that still holds resources. */
export function livePodMap(pods: Pod[]): Map<string, string> {
  const live = new Map<string, string>();
  for (const pod of pods) {
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    live.set(pod.metadata.uid as string, pod.spec.nodeName ?? '');
  }
  return live;
}

export function buildSnapshot(nodes: Node[], pods: Pod[], records: AllocationRecord[], snapshotAt: number): Snapshot {
  const byName = new Map<string, NodeInfo>();
  const recordOf = new Map(records.map((r) => [r.metadata.name, r]));
  const live = livePodMap(pods);
  const zones = new Map<string, number>();
  const list: NodeInfo[] = [];
  for (const node of nodes) {
    const alloc = node.status?.allocatable ?? {};
    const record = recordOf.get(node.metadata.name);
    const zone = node.metadata.labels?.[ZONE_LABEL] ?? '';
    if (!zones.has(zone)) zones.set(zone, zones.size);
    const info: NodeInfo = {
      node,
      name: node.metadata.name,
      index: list.length,
      zone,
      zoneIndex: zones.get(zone) as number,
      ready: isConditionTrue(node),
      taints: (node.spec?.taints ?? []).filter((t) => t.effect !== 'PreferNoSchedule'),
      allocCpu: cpuMillis(alloc.cpu ?? 0),
      allocMem: bytes(alloc.memory ?? 0),
      allocPods: alloc.pods === undefined ? 110 : Number(alloc.pods),
      allocOther: otherAllocatable(alloc),
      usedCpu: 0,
      usedMem: 0,
      usedPods: 0,
      usedOther: {},
      hostPorts: new Set(),
      record,
      entries: pruneEntries(record, node.metadata.name, live, snapshotAt, snapshotAt),
    };
    byName.set(info.name, info);
    list.push(info);
  }
  const spread = new OwnerCounts(list, zones.size);
  const pending: Pod[] = [];
  for (const pod of pods) {
    if (isPending(pod)) pending.push(pod);
    const info = pod.spec.nodeName ? byName.get(pod.spec.nodeName) : undefined;
    if (!info || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    // Bound pods count whatever the record says: the record may lag a bind made by someone else.
    if (!info.entries.has(pod.metadata.uid as string))
      info.entries.set(pod.metadata.uid as string, reservationOf(pod, snapshotAt));
    const owner = controllerOf(pod);
    if (owner) spread.add(owner, info);
  }
  for (const info of list) {
    for (const r of info.entries.values()) {
      info.usedCpu += r.cpu;
      info.usedMem += r.mem;
      info.usedPods += 1;
      if (r.other) addOther(info.usedOther, r.other);
      for (const hp of r.hostPorts ?? []) info.hostPorts.add(hp);
    }
  }
  // Highest priority first, then oldest, then by name. Plain code-unit comparison: timestamps are
  // ISO strings and names DNS labels, and localeCompare costs a microsecond per call.
  pending.sort(
    (a, b) =>
      (b.spec.priority ?? 0) - (a.spec.priority ?? 0) ||
      compareStrings(String(a.metadata.creationTimestamp), String(b.metadata.creationTimestamp)) ||
      compareStrings(a.metadata.name, b.metadata.name),
  );
  return { nodes: list, byName, spread, pending };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The "assume" step: account a placed pod in the snapshot before its bind is committed. */
export function assume(
  snapshot: Snapshot,
  info: NodeInfo,
  pod: Pod,
  cpu: number,
  mem: number,
  hostPorts: string[],
  other?: Record<string, number>,
): void {
  info.usedCpu += cpu;
  info.usedMem += mem;
  info.usedPods += 1;
  if (other) addOther(info.usedOther, other);
  for (const hp of hostPorts) info.hostPorts.add(hp);
  const owner = controllerOf(pod);
  if (owner) snapshot.spread.add(owner, info);
}
