/**
 * The scheduler's view of the cluster for one pass, built from one list of nodes, pods and
 * allocation records, then updated in memory as the pass places pods (the "assume" step of
 * kube-scheduler), so a pass never reads the store per pod.
 */
import { bytes, cpuMillis, type Node, type Pod } from '../../schemas';
import type { Obj } from '../store/types';
import { type AllocationRecord, pruneEntries, type Reservation, reservationOf } from './allocation';

export interface NodeInfo {
  node: Node;
  name: string;
  zone: string;
  ready: boolean;
  allocCpu: number;
  allocMem: number;
  allocPods: number;
  /** Sums over the node's allocation record: bound pods plus fresh reservations. */
  usedCpu: number;
  usedMem: number;
  usedPods: number;
  hostPorts: Set<string>;
  /** Pods per controller owner uid on this node. */
  owners: Map<string, number>;
  record: AllocationRecord | undefined;
  entries: Map<string, Reservation>;
}

export interface Snapshot {
  nodes: NodeInfo[];
  byName: Map<string, NodeInfo>;
  /** Pods per owner uid per zone. */
  zoneOwners: Map<string, Map<string, number>>;
  pending: Pod[];
}

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function podRequests(pod: Pod): { cpu: number; mem: number } {
  let cpu = 0;
  let mem = 0;
  for (const c of pod.spec.containers) {
    cpu += cpuMillis(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu);
    mem += bytes(c.resources?.requests?.memory ?? c.resources?.limits?.memory);
  }
  return { cpu, mem };
}

export function podHostPorts(pod: Pod): string[] {
  const out: string[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${p.protocol ?? 'TCP'}/${p.hostPort}`);
  }
  return out;
}

export function controllerOf(obj: Obj): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

export function isReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
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
  for (const node of nodes) {
    const alloc = node.status?.allocatable ?? {};
    const record = recordOf.get(node.metadata.name);
    byName.set(node.metadata.name, {
      node,
      name: node.metadata.name,
      zone: node.metadata.labels?.[ZONE_LABEL] ?? '',
      ready: isReady(node),
      allocCpu: cpuMillis(alloc.cpu ?? 0),
      allocMem: bytes(alloc.memory ?? 0),
      allocPods: alloc.pods === undefined ? 110 : Number(alloc.pods),
      usedCpu: 0,
      usedMem: 0,
      usedPods: 0,
      hostPorts: new Set(),
      owners: new Map(),
      record,
      entries: new Map(
        Object.entries(pruneEntries(record?.spec.pods ?? {}, node.metadata.name, live, snapshotAt, snapshotAt)),
      ),
    });
  }
  const zoneOwners = new Map<string, Map<string, number>>();
  const pending: Pod[] = [];
  for (const pod of pods) {
    if (isPending(pod)) pending.push(pod);
    const info = pod.spec.nodeName ? byName.get(pod.spec.nodeName) : undefined;
    if (!info || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    // Bound pods count whatever the record says: the record may lag a bind made by someone else.
    if (!info.entries.has(pod.metadata.uid as string))
      info.entries.set(pod.metadata.uid as string, reservationOf(pod, snapshotAt));
    const owner = controllerOf(pod);
    if (owner) countOwner(info, zoneOwners, owner);
  }
  for (const info of byName.values()) {
    for (const r of info.entries.values()) {
      info.usedCpu += r.cpu;
      info.usedMem += r.mem;
      info.usedPods += 1;
      for (const hp of r.hostPorts ?? []) info.hostPorts.add(hp);
    }
  }
  pending.sort(
    (a, b) =>
      (b.spec.priority ?? 0) - (a.spec.priority ?? 0) ||
      String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  return { nodes: [...byName.values()], byName, zoneOwners, pending };
}

export function countOwner(info: NodeInfo, zoneOwners: Map<string, Map<string, number>>, owner: string): void {
  info.owners.set(owner, (info.owners.get(owner) ?? 0) + 1);
  let z = zoneOwners.get(info.zone);
  if (!z) {
    z = new Map();
    zoneOwners.set(info.zone, z);
  }
  z.set(owner, (z.get(owner) ?? 0) + 1);
}

/** The "assume" step: account a placed pod in the snapshot before its bind is committed. */
export function assume(snapshot: Snapshot, info: NodeInfo, pod: Pod): void {
  const { cpu, mem } = podRequests(pod);
  info.usedCpu += cpu;
  info.usedMem += mem;
  info.usedPods += 1;
  for (const hp of podHostPorts(pod)) info.hostPorts.add(hp);
  const owner = controllerOf(pod);
  if (owner) countOwner(info, snapshot.zoneOwners, owner);
}
