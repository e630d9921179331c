/**
 * What the cluster autoscaler plans over, read for one pass: each autoscaled pool as a node group
 * (its bounds, target, registered nodes, back-off, and what a new machine of it is) and the
 * cluster as the scheduler sees it. A new machine is learnt from a Ready node of the pool when
 * there is one (what its agent reports is what the scheduler counts), else from the provider's
 * machine size for the instance type (cluster-autoscaler's TemplateNodeInfo does the same).
 */
import type { CloudProvider } from '../../../providers/types';
import type {
  Cloud,
  DaemonSet,
  Node,
  NodePool,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  PodDisruptionBudget,
  StorageClass,
} from '../../../schemas';
import type { Deps } from '../../deps';
import { ALLOCATION_KIND, type AllocationRecord } from '../../scheduler/allocation';
import { ZONE_LABEL } from '../../scheduler/snapshot';
import { claimNames, VolumeBinder } from '../../scheduler/volumes';
import type { Obj } from '../../store/types';
import { autoscalingOf, type ClusterView, type Group, type TemplateSpec } from '../autoscaler';
import type { Volumes } from '../autoscaler/drainable';
import { churnOf, creationHold } from './churn';
import { cloudConfig } from './cloud-config';
import {
  CLOUD_LABEL,
  DEFAULTS,
  generationOf,
  isNodeReady,
  machineLabels,
  type NodePoolOptions,
  POOL_LABEL,
  RETIRING_ANNOTATION,
} from './context';
import { machineCapacity } from './scale-up';

/** A node reports 110 pods unless told otherwise (the agent's default, the kubelet's). */
const DEFAULT_PODS = '110';

export interface AutoscalerInput {
  groups: Group[];
  view: ClusterView;
  budgets: PodDisruptionBudget[];
  volumes: Volumes;
  /** Nodes of autoscaled pools retiring now. */
  retiring: number;
}

/** The pool's count while autoscaled: its recorded target, else (just enabled) the machines it has. */
export function autoscaledTarget(pool: NodePool): number {
  const min = pool.spec.minNodes ?? 0;
  const max = pool.spec.maxNodes ?? min;
  const t = pool.status?.autoscaling?.desiredNodes ?? pool.status?.nodes ?? min;
  return Math.min(Math.max(t, min), max);
}

export async function readAutoscalerInput(
  deps: Deps,
  options: NodePoolOptions,
  pools: NodePool[],
  clouds: Map<string, Cloud>,
  nodes: Node[],
): Promise<AutoscalerInput | undefined> {
  const scaled = pools.filter((p) => autoscalingOf(p) && clouds.has(p.spec.cloud));
  if (scaled.length === 0) return undefined;
  const now = deps.clock();
  const list = async <T extends Obj>(kind: string) => (await deps.store.list<T>(kind)).items;
  const [pods, records, daemonSets, budgets, claims, pvs] = await Promise.all([
    list<Pod>('Pod'),
    list<AllocationRecord>(ALLOCATION_KIND),
    list<DaemonSet>('DaemonSet'),
    list<PodDisruptionBudget>('PodDisruptionBudget'),
    list<PersistentVolumeClaim>('PersistentVolumeClaim'),
    list<PersistentVolume>('PersistentVolume'),
  ]);
  const view: ClusterView = { now, nodes, pods, records, daemonSets };
  // Pending pods' claims decide where they may go, bound pods' where they may move.
  if (pods.some((p) => claimNames(p).length > 0))
    view.binder = new VolumeBinder(claims, pvs, await list<StorageClass>('StorageClass'), pods);
  const groups: Group[] = [];
  let retiring = 0;
  for (const pool of scaled) {
    const cloud = clouds.get(pool.spec.cloud) as Cloud;
    const mine = nodes.filter((n) => n.metadata.labels?.[POOL_LABEL] === pool.metadata.name);
    const leaving = mine.filter((n) => n.metadata.annotations?.[RETIRING_ANNOTATION] !== undefined);
    retiring += leaving.length;
    const here = mine.filter((n) => n.metadata.labels?.[CLOUD_LABEL] === cloud.metadata.name && !leaving.includes(n));
    const provider = await options.providerFor(await cloudConfig(deps, cloud));
    const deadline = options.registrationTimeoutMs ?? DEFAULTS.registrationTimeoutMs;
    const booting = here.filter(
      (n) => !isNodeReady(n) && now - Date.parse(n.metadata.creationTimestamp ?? '') < deadline,
    );
    groups.push(await groupOf(pool, cloud, here, booting, leaving.length, provider, now));
  }
  const volumes: Volumes = {
    claims: new Map(claims.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c])),
    pvs: new Map(pvs.map((p) => [p.metadata.name, p])),
  };
  return { groups, view, budgets, volumes, retiring };
}

async function groupOf(
  pool: NodePool,
  cloud: Cloud,
  nodes: Node[],
  booting: Node[],
  retiring: number,
  provider: CloudProvider,
  now: number,
): Promise<Group> {
  const settings = autoscalingOf(pool) as NonNullable<ReturnType<typeof autoscalingOf>>;
  const min = pool.spec.minNodes ?? 0;
  const max = pool.spec.maxNodes ?? min;
  const churn = churnOf(pool.status?.churn, generationOf(pool));
  const hold = creationHold(churn, now);
  let target = autoscaledTarget(pool);
  // A pool that cannot create now is not counted on for what it has not made (upcoming() is 0
  // while it holds), so other pools may take the pods, as cluster-autoscaler backs a group off.
  // Its target stays while it backs off: a target lowered to what it has would make the pool
  // "settled", which forgets the churn, and the loop the guard is for would start again. Only a
  // Degraded pool (which stays Degraded however settled) falls back to the machines it has.
  if (churn?.degraded) target = Math.min(Math.max(Math.min(target, pool.status?.nodes ?? nodes.length), min), max);
  const status = pool.status?.autoscaling;
  return {
    name: pool.metadata.name,
    pool,
    settings,
    min,
    max,
    target,
    nodes,
    booting,
    launched: (pool.status?.launches ?? [])
      .filter((l) => l.cloud === cloud.metadata.name && l.zone && !nodes.some((n) => n.metadata.name === l.name))
      .map((l) => l.zone as string),
    retiring,
    template: await templateOf(pool, cloud, nodes, provider),
    ...(hold ? { hold } : {}),
    ...(status?.lastScaleUpTime ? { lastScaleUpTime: status.lastScaleUpTime } : {}),
    ...(status?.lastScaleDownTime ? { lastScaleDownTime: status.lastScaleDownTime } : {}),
    unneeded: status?.unneeded ?? [],
  };
}

async function templateOf(
  pool: NodePool,
  cloud: Cloud,
  nodes: Node[],
  provider: CloudProvider,
): Promise<Group['template']> {
  const zones = pool.spec.zones ?? [];
  if (zones.length === 0) return { unknown: `pool ${pool.metadata.name}: spec.zones names no zone to create nodes in` };
  const sample = nodes.find((n) => isNodeReady(n) && n.status?.allocatable);
  let allocatable = sample?.status?.allocatable as Record<string, string> | undefined;
  if (!allocatable) {
    const size = await machineCapacity(provider, pool.spec.instanceType, zones[0] as string);
    if (!size)
      return {
        unknown: `pool ${pool.metadata.name}: the size of instance type "${pool.spec.instanceType}" is not known (Cloud "${cloud.metadata.name}" does not say, and no node of the pool is Ready to learn it from)`,
      };
    allocatable = { cpu: String(size.cpu), memory: String(size.memory), pods: DEFAULT_PODS };
  }
  const os = sample?.metadata.labels?.['kubernetes.io/os'] ?? 'linux';
  // Cloud images default to x86-64; a Ready node of the pool says what it really is.
  const arch = sample?.metadata.labels?.['kubernetes.io/arch'] ?? 'amd64';
  const counts = new Map(zones.map((z) => [z, 0]));
  for (const n of nodes) {
    const z = n.metadata.labels?.[ZONE_LABEL];
    if (z !== undefined && counts.has(z)) counts.set(z, (counts.get(z) ?? 0) + 1);
  }
  const spec: TemplateSpec = {
    labelsFor: (zone) => ({
      ...machineLabels(pool, cloud.metadata.name, zone),
      'kubernetes.io/os': os,
      'kubernetes.io/arch': arch,
    }),
    // The node pool puts each machine in the zone with the fewest (scale-up.ts): the same order.
    nextZones: (count) => {
      const c = new Map(counts);
      const out: string[] = [];
      for (let i = 0; i < count; i++) {
        const zone = [...zones].sort((a, b) => (c.get(a) ?? 0) - (c.get(b) ?? 0))[0] as string;
        c.set(zone, (c.get(zone) ?? 0) + 1);
        out.push(zone);
      }
      return out;
    },
    zones,
    taints: pool.spec.taints ?? [],
    allocatable: { pods: DEFAULT_PODS, ...allocatable },
  };
  return spec;
}
