/**
 * Node lifecycle, after Kubernetes' node lifecycle controller: a node whose heartbeat (its Lease in
 * kube-node-lease) is older than the grace period becomes Ready=Unknown; once it has been so for
 * the eviction delay, its pods are removed so their ReplicaSets replace them on other nodes. A node
 * whose heartbeat resumes is Ready again; its evicted pods are gone from the store, so its agent
 * stops their containers and they are not resurrected. (Kubernetes' defaults are 40 s and 5 min;
 * ferry's are 10 s and 5 s.)
 *
 * Evictions cannot storm (issue 12 item 6), as in Kubernetes:
 * - per zone (`topology.kubernetes.io/zone`), nodes are evicted through a token bucket of
 *   `evictionRate` nodes/s (`--node-eviction-rate`, 0.1) with a burst of one;
 * - a zone with more than 2 and at least `unhealthyZoneThreshold` (55%) of its nodes not Ready is in
 *   partial disruption: it evicts at `secondaryEvictionRate` (0.01/s) if it has more than
 *   `largeClusterSizeThreshold` (50) nodes, else not at all;
 * - when every zone is fully disrupted (no node Ready anywhere) nothing is evicted: that is our own
 *   outage or partition, not the nodes'.
 * And the control plane's own slowness never becomes NotReady nodes: a new leader gives every node
 * a full grace period from when it started watching (`observingSince`), and a pass that starts late
 * (the manager reports its lag: a stalled event loop, a backlog, a late Lambda) extends the grace
 * period by that lag until the agents have had a grace period to catch up.
 * https://kubernetes.io/docs/concepts/architecture/nodes/#rate-limits-on-eviction
 */
import type { Lease, Node, Pod } from '../../schemas';
import { findCondition, isConditionTrue } from '../../schemas/conditions';
import { isoTime } from '../../schemas/time';
import type { Deps } from '../deps';
import { NotFoundError } from '../errors';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { ignoreNotFound, retryOnConflict } from '../store/retry';
import { type PassContext, reconcileEach } from './controller';

export interface NodeLifecycleOptions {
  gracePeriodMs: number;
  evictionDelayMs: number;
  /**
   * When this controller started watching (became leader). Like Kubernetes' node lifecycle
   * controller, which times heartbeats by its own observation, a node gets a full grace period from
   * then: a control plane that was down itself must not evict every node for heartbeats it could
   * not receive.
   */
  observingSince?: number;
  /** Nodes evicted per second per zone (Kubernetes' `--node-eviction-rate`, 0.1). */
  evictionRate?: number;
  /** The rate in a large zone in partial disruption (`--secondary-node-eviction-rate`, 0.01). */
  secondaryEvictionRate?: number;
  /** The share of not-Ready nodes that makes a zone partially disrupted (`--unhealthy-zone-threshold`, 0.55). */
  unhealthyZoneThreshold?: number;
  /** Zones up to this many nodes stop evicting in partial disruption (`--large-cluster-size-threshold`, 50). */
  largeClusterSizeThreshold?: number;
}

export const DEFAULT_NODE_LIFECYCLE: NodeLifecycleOptions = { gracePeriodMs: 10_000, evictionDelayMs: 5_000 };
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const ZONE_LABEL = 'topology.kubernetes.io/zone';
const SOURCE = { component: 'node-controller' };

/** What the controller remembers between passes: per-zone eviction buckets and the lag extension. */
export interface NodeLifecycleState {
  buckets: Map<string, { tokens: number; at: number }>;
  lagMs: number;
  lagUntil: number;
}

export function newNodeLifecycleState(): NodeLifecycleState {
  return { buckets: new Map(), lagMs: 0, lagUntil: 0 };
}

/**
 * The control plane is `lagMs` behind (a pass started that much later than it was due): heartbeats
 * that arrived meanwhile may not be stored yet, so the grace period grows by the lag until the
 * agents have had a full grace period (plus the lag) to get through.
 */
export function noteLag(state: NodeLifecycleState, lagMs: number, now: number, options: NodeLifecycleOptions): void {
  if (lagMs <= 0) return;
  const extension = state.lagUntil > now ? Math.max(state.lagMs, lagMs) : lagMs;
  state.lagMs = extension;
  state.lagUntil = now + options.gracePeriodMs + extension;
}

export type ZoneState = 'Normal' | 'PartialDisruption' | 'FullDisruption';

/** Kubernetes' ComputeZoneState. */
export function zoneState(ready: number, notReady: number, threshold: number): ZoneState {
  if (ready === 0 && notReady > 0) return 'FullDisruption';
  if (notReady > 2 && notReady / (ready + notReady) >= threshold) return 'PartialDisruption';
  return 'Normal';
}

export async function reconcileNodes(
  ctx: PassContext,
  options: NodeLifecycleOptions = DEFAULT_NODE_LIFECYCLE,
  state: NodeLifecycleState = newNodeLifecycleState(),
): Promise<void> {
  const { deps, snapshot } = ctx;
  const nodes = await snapshot.list<Node>('Node');
  const leases = (await snapshot.list<Lease>('Lease')).filter((l) => l.metadata.namespace === NODE_LEASE_NAMESPACE);
  const renewed = new Map(leases.map((l) => [l.metadata.name, Date.parse(l.spec?.renewTime ?? '')]));
  const now = deps.clock();
  const grace = options.gracePeriodMs + (state.lagUntil > now ? state.lagMs : 0);
  // The Leases as listed at the pass's start: a heartbeat is judged by that time, not by now, or a
  // long pass would take renewals it has not read for missed ones.
  const asOf = Math.min(now, snapshot.listedAt('Lease') ?? now);

  const ready = new Map<string, boolean>();
  const due: { node: Node; since: number }[] = [];
  await reconcileEach(ctx, SOURCE.component, nodes, async (node) => {
    const name = node.metadata.name;
    const lease = renewed.get(name);
    const heartbeat = lease ?? Date.parse(node.metadata.creationTimestamp ?? '');
    const last = Math.max(Number.isNaN(heartbeat) ? 0 : heartbeat, options.observingSince ?? 0);
    const fresh = asOf - last <= grace;
    const condition = findCondition(node, 'Ready');
    ready.set(name, isConditionTrue(node));
    if (condition?.status === 'Unknown') {
      // Marked unknown by a stale heartbeat or by the API seeing the agent disconnect.
      const since = Date.parse(condition.lastTransitionTime ?? '') || now;
      if (fresh && heartbeat > since) {
        await setReady(deps, node, 'True', 'AgentReady', 'agent is posting ready status');
        ready.set(name, true);
        await recordEvent(deps, node, 'Normal', 'NodeReady', `Node ${name} status is now: NodeReady`, SOURCE);
      } else if (now - since >= options.evictionDelayMs) {
        due.push({ node, since });
      } else {
        ctx.wakeAt(since + options.evictionDelayMs);
      }
    } else if (!fresh) {
      await setReady(deps, node, 'Unknown', 'NodeStatusUnknown', 'Agent stopped posting node status.');
      ready.set(name, false);
      ctx.wakeAt(now + options.evictionDelayMs);
      await recordEvent(deps, node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`, SOURCE);
    } else if (lease === undefined) {
      // No Lease to watch for this node: the scheduled lease check cannot see it go stale.
      ctx.wakeAt(last + grace + 1);
    }
  });
  await evictWithinLimits(ctx, options, state, nodes, ready, due);
  await removeOrphanLeases(ctx, nodes, leases, now, grace);
}

/** Evicts the due nodes' pods, oldest NotReady first, at each zone's rate. */
async function evictWithinLimits(
  ctx: PassContext,
  options: NodeLifecycleOptions,
  state: NodeLifecycleState,
  nodes: Node[],
  ready: Map<string, boolean>,
  due: { node: Node; since: number }[],
): Promise<void> {
  const zones = new Map<string, { ready: number; notReady: number }>();
  for (const node of nodes) {
    const zone = zones.get(zoneOf(node)) ?? { ready: 0, notReady: 0 };
    if (ready.get(node.metadata.name)) zone.ready++;
    else zone.notReady++;
    zones.set(zoneOf(node), zone);
  }
  const threshold = options.unhealthyZoneThreshold ?? 0.55;
  const states = new Map([...zones].map(([z, c]) => [z, zoneState(c.ready, c.notReady, threshold)]));
  // Every zone fully disrupted: stop evicting (Kubernetes' handleDisruption "all zones" case).
  if ([...states.values()].every((s) => s === 'FullDisruption')) return;
  const now = ctx.deps.clock();
  due.sort((a, b) => a.since - b.since);
  for (const { node } of due) {
    const pods = await ctx.snapshot.podsOn<Pod>(node.metadata.name);
    if (pods.length === 0) continue; // already evicted: no token spent
    const zone = zoneOf(node);
    const counts = zones.get(zone) as { ready: number; notReady: number };
    const rate = zoneRate(states.get(zone) as ZoneState, counts.ready + counts.notReady, options);
    if (rate <= 0) continue; // a small zone in partial disruption waits for its nodes, not a timer
    const bucket = state.buckets.get(zone) ?? { tokens: 1, at: now };
    bucket.tokens = Math.min(1, bucket.tokens + ((now - bucket.at) * rate) / 1000);
    bucket.at = now;
    state.buckets.set(zone, bucket);
    if (bucket.tokens < 1) {
      ctx.wakeAt(now + Math.ceil(((1 - bucket.tokens) * 1000) / rate));
      continue;
    }
    bucket.tokens -= 1;
    await reconcileEach(ctx, SOURCE.component, [node], () => evictPods(ctx.deps, node, pods));
  }
}

function zoneRate(state: ZoneState, size: number, options: NodeLifecycleOptions): number {
  const primary = options.evictionRate ?? 0.1;
  if (state !== 'PartialDisruption') return primary;
  return size > (options.largeClusterSizeThreshold ?? 50) ? (options.secondaryEvictionRate ?? 0.01) : 0;
}

function zoneOf(node: Node): string {
  return node.metadata.labels?.[ZONE_LABEL] ?? '';
}

/**
 * Leases of nodes that are gone (Kubernetes deletes them with their owner Node): stale ones would
 * make every scheduled lease check think a node died.
 */
async function removeOrphanLeases(ctx: PassContext, nodes: Node[], leases: Lease[], now: number, grace: number) {
  const names = new Set(nodes.map((n) => n.metadata.name));
  const orphans = leases.filter(
    (l) => !names.has(l.metadata.name) && !(now - Date.parse(l.spec?.renewTime ?? '') <= grace),
  );
  await reconcileEach(ctx, SOURCE.component, orphans, (l) =>
    ignoreNotFound(
      ctx.deps.store.delete(
        { kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name: l.metadata.name },
        { resourceVersion: l.metadata.resourceVersion as string },
      ),
    ),
  );
}

async function setReady(deps: Deps, node: Node, status: string, reason: string, message: string): Promise<void> {
  const others = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
  const old = findCondition(node, 'Ready');
  await deps.store.update({
    ...node,
    status: {
      ...node.status,
      conditions: [
        {
          ...old,
          type: 'Ready',
          status,
          reason,
          message,
          lastTransitionTime: isoTime(deps.clock()),
          ...(old?.lastHeartbeatTime ? { lastHeartbeatTime: old.lastHeartbeatTime } : {}),
        },
        ...others,
      ],
    },
  });
}

/** The node cannot confirm a graceful stop, so its pods are removed outright. */
async function evictPods(deps: Deps, node: Node, pods: Pod[]): Promise<void> {
  for (const pod of pods) {
    await recordEvent(deps, pod, 'Warning', 'Evicted', `Node ${node.metadata.name} is not ready; pod evicted`, SOURCE);
    await deletePod(
      deps,
      { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name },
      { force: true },
    );
  }
}

/** Marks a node unschedulable (`ferry cordon`). */
export async function cordonNode(deps: Deps, name: string, unschedulable = true): Promise<Node> {
  return retryOnConflict(async (current) => {
    const node = (current as Node | undefined) ?? (await deps.store.get<Node>({ kind: 'Node', name }));
    if (!node) throw new NotFoundError('Node', name);
    return deps.store.update({ ...node, spec: { ...node.spec, unschedulable } });
  });
}

/** Cordons a node and gracefully deletes its pods that a controller will recreate elsewhere. */
export async function drainNode(deps: Deps, name: string): Promise<{ evicted: string[]; skipped: string[] }> {
  await cordonNode(deps, name, true);
  const pods = await deps.store.list<Pod>('Pod', { nodeName: name });
  const evicted: string[] = [];
  const skipped: string[] = [];
  for (const pod of pods.items) {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (!pod.metadata.ownerReferences?.some((r) => r.controller)) {
      skipped.push(key);
      continue;
    }
    await deletePod(deps, { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name });
    evicted.push(key);
  }
  return { evicted, skipped };
}
