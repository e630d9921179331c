/**
 * What one pass over one pool knows and decides, handed from sub-reconciler to sub-reconciler
 * (index.ts runs them in order): the pool as last read or written, its Cloud, the machines found,
 * and what the pass did that the status write at the end must record.
 */
import type { CloudConfig, CloudProvider, Instance } from '../../../providers/types';
import type { Cloud, Node, NodePool, NodePoolLaunch } from '../../../schemas';
import { type Condition, isConditionTrue } from '../../../schemas/conditions';
import type { Deps } from '../../deps';
import type { AutoscalerLimits } from '../autoscaler/settings';

export const POOL_LABEL = 'ferry.dev/pool';
export const CLOUD_LABEL = 'ferry.dev/cloud';
export const RETIRING_ANNOTATION = 'ferry.dev/retiring-since';
/** Set it (to anything) on a Degraded NodePool to let it create machines again. */
export const CLEAR_DEGRADED_ANNOTATION = 'ferry.dev/clear-degraded';

export interface NodePoolOptions {
  /** Tags every machine, so the pools of two clusters in one account never mix. */
  cluster: string;
  /** Where agents reach the API (it goes into each machine's user-data). */
  apiUrl: string;
  /** The cluster's DNS domain, for each machine's agent (default: the agent's own, cluster.local). */
  clusterDomain?: string;
  /** Builds the provider of a Cloud (default: providers/index.ts). */
  providerFor: (config: CloudConfig) => Promise<CloudProvider>;
  /** Lifetime of a machine's bootstrap token (default one hour). */
  bootstrapTtlSeconds?: number;
  /** A machine not registered this long after its launch is deleted, and counts as churn (default 10 min). */
  registrationTimeoutMs?: number;
  /** The first back-off after churn; each further turn doubles it (default 30 s, at most 15 min). */
  churnBackoffMs?: number;
  /** Turns of churn after which the pool stops creating and is Degraded (default 3). */
  maxChurnTurns?: number;
  /** Bounds on what the cluster autoscaler does in one pass, over every autoscaled pool. */
  autoscaler?: AutoscalerLimits;
}

export const DEFAULTS = {
  registrationTimeoutMs: 10 * 60_000,
  churnBackoffMs: 30_000,
  maxChurnTurns: 3,
  maxBackoffMs: 15 * 60_000,
  /**
   * Cloud listings are eventually consistent (EC2's DescribeInstances may miss an instance for
   * seconds after RunInstances): a launched machine not listed yet still counts this long.
   */
  launchGraceMs: 300_000,
  /** A machine retired this soon after its launch, at the same pool generation, is churn. */
  earlyRetirementMs: 10 * 60_000,
  /** A retiring node's machine is deleted at the latest this long after it was cordoned. */
  retireTimeoutMs: 120_000,
};

export interface Machine {
  instance: Instance;
  node: Node | undefined;
  /** The Cloud (name) whose listing returned it. */
  cloud: string;
  provider: CloudProvider;
}

/** A turn of churn seen in this pass: recorded in `status.churn` by the status write. */
export interface Churn {
  reason: 'EarlyRetirement' | 'RegistrationTimeout' | 'CreateFailed' | 'NoCapacity' | 'AmbiguousListing';
  message: string;
}

export interface PoolPass {
  deps: Deps;
  options: NodePoolOptions;
  now: number;
  /** The pool as last read or written by this pass (writes carry its resourceVersion). */
  pool: NodePool;
  cloud: Cloud;
  provider: CloudProvider;
  desired: number;
  /** The pool's Nodes (label ferry.dev/pool), by name. */
  nodes: Map<string, Node>;
  /** Clouds looked in: the pool's, and every Cloud it still has nodes or machines in. */
  cloudNames: Set<string>;
  machines: Machine[];
  /** Machines deleted in this pass (by instance id). */
  gone: Set<string>;
  /** Launch records to keep (the status write merges them with what is stored). */
  launches: NodePoolLaunch[];
  /** Names of the launch records as this pass first read them. */
  launchesRead: Set<string>;
  churn: Churn[];
  /** A machine was listed by two Clouds: this pass neither creates nor retires, and the pool degrades. */
  ambiguous: boolean;
  /** The autoscaler's ScaleUp / ScaleDown conditions for this pool (autoscaled pools only). */
  autoscalerConditions?: Condition[];
  /** Where the autoscaler wants this pass's new machines, in order (a pod needs that zone). */
  zoneHints?: string[];
  /** Machines this controller pass may still create, shared by every pool (MAX_NEW_NODES_PER_PASS). */
  budget: { creates: number };
}

export function isRetiring(m: Machine): boolean {
  return m.node?.metadata.annotations?.[RETIRING_ANNOTATION] !== undefined;
}

export function isNodeReady(node: Node | undefined): boolean {
  return isConditionTrue(node);
}

/** Machines still there (not deleted in this pass). */
export function present(pass: PoolPass): Machine[] {
  return pass.machines.filter((m) => !pass.gone.has(m.instance.id));
}

/** Machines of the pool's Cloud that are not retiring or stopping: the ones that serve. */
export function currentMachines(pass: PoolPass): Machine[] {
  return present(pass).filter(
    (m) => m.cloud === pass.cloud.metadata.name && !isRetiring(m) && m.instance.state !== 'stopping',
  );
}

/** Launch records of machines not listed (yet): they count as machines for up to the grace. */
export function unlistedLaunches(pass: PoolPass): NodePoolLaunch[] {
  const listed = new Set(pass.machines.map((m) => m.instance.name));
  return pass.launches.filter((l) => !listed.has(l.name));
}

const ZONE_LABEL = 'topology.kubernetes.io/zone';
const TYPE_LABEL = 'node.kubernetes.io/instance-type';

/** The labels a machine of the pool registers with (its bootstrap token carries them). */
export function machineLabels(pool: NodePool, cloud: string, zone: string): Record<string, string> {
  return {
    ...pool.spec.labels,
    [POOL_LABEL]: pool.metadata.name,
    [CLOUD_LABEL]: cloud,
    [ZONE_LABEL]: zone,
    [TYPE_LABEL]: pool.spec.instanceType,
  };
}

export function generationOf(pool: NodePool): number {
  return (pool.metadata.generation as number | undefined) ?? 1;
}
