/**
 * Node lifecycle: a node whose heartbeat (its Lease in kube-node-lease) is older than the grace
 * period becomes Ready=Unknown; once it has been so for the eviction delay, its pods are removed
 * so their ReplicaSets replace them on other nodes. A node whose heartbeat resumes is Ready again;
 * its evicted pods are gone from the store, so its agent stops their containers and they are not
 * resurrected. (Kubernetes' defaults are 40 s and 5 min; ferry's are 10 s and 5 s.)
 */
import type { Lease, Node, Pod } from '../../schemas';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { isoTime } from './util';

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
}

export const DEFAULT_NODE_LIFECYCLE: NodeLifecycleOptions = { gracePeriodMs: 10_000, evictionDelayMs: 5_000 };
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export async function reconcileNodes(
  deps: Deps,
  options: NodeLifecycleOptions = DEFAULT_NODE_LIFECYCLE,
): Promise<void> {
  const [nodes, leases] = await Promise.all([
    deps.store.list<Node>('Node'),
    deps.store.list<Lease>('Lease', { namespace: NODE_LEASE_NAMESPACE }),
  ]);
  const renewed = new Map(leases.items.map((l) => [l.metadata.name, Date.parse(l.spec?.renewTime ?? '')]));
  const now = deps.clock();
  // Full disruption (no node Ready at all) looks like our own outage or partition, not the nodes':
  // do not evict then, as Kubernetes stops evicting in a fully disrupted zone.
  const anyReady = nodes.items.some((n) =>
    n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  for (const node of nodes.items) {
    const heartbeat = renewed.get(node.metadata.name) ?? Date.parse(node.metadata.creationTimestamp ?? '');
    const last = Math.max(heartbeat, options.observingSince ?? 0);
    const fresh = now - last <= options.gracePeriodMs;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    try {
      if (ready?.status === 'Unknown') {
        // Marked unknown by a stale heartbeat or by the API seeing the agent disconnect.
        const since = Date.parse(ready.lastTransitionTime ?? '') || now;
        if (fresh && heartbeat > since) {
          await setReady(deps, node, 'True', 'AgentReady', 'agent is posting ready status');
          await recordEvent(deps, node, 'Normal', 'NodeReady', `Node ${node.metadata.name} status is now: NodeReady`, {
            component: 'node-controller',
          });
        } else if (now - since >= options.evictionDelayMs && anyReady) {
          await evictPods(deps, node);
        }
      } else if (!fresh) {
        await setReady(deps, node, 'Unknown', 'NodeStatusUnknown', 'Agent stopped posting node status.');
        await recordEvent(
          deps,
          node,
          'Normal',
          'NodeNotReady',
          `Node ${node.metadata.name} status is now: NodeNotReady`,
          { component: 'node-controller' },
        );
      }
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err)) throw err;
    }
  }
}

async function setReady(deps: Deps, node: Node, status: string, reason: string, message: string): Promise<void> {
  const time = isoTime(deps.clock());
  const others = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
  const old = node.status?.conditions?.find((c) => c.type === 'Ready');
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
          lastTransitionTime: time,
          ...(old?.lastHeartbeatTime ? { lastHeartbeatTime: old.lastHeartbeatTime } : {}),
        },
        ...others,
      ],
    },
  });
}

/** The node cannot confirm a graceful stop, so its pods are removed outright. */
async function evictPods(deps: Deps, node: Node): Promise<void> {
  const pods = await deps.store.list<Pod>('Pod', { nodeName: node.metadata.name });
  for (const pod of pods.items) {
    await recordEvent(deps, pod, 'Warning', 'Evicted', `Node ${node.metadata.name} is not ready; pod evicted`, {
      component: 'node-controller',
    });
    await deletePod(
      deps,
      { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name },
      { force: true },
    );
  }
}

/** Marks a node unschedulable (`ferry cordon`). */
export async function cordonNode(deps: Deps, name: string, unschedulable = true): Promise<Node> {
  for (;;) {
    const node = await deps.store.get<Node>({ kind: 'Node', name });
    if (!node) throw new (await import('../errors')).NotFoundError('Node', name);
    try {
      return await deps.store.update({ ...node, spec: { ...node.spec, unschedulable } });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
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
