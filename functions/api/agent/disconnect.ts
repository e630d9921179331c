/**
 * Failure detection that does not wait for the heartbeat to expire (held syncs only): when an
 * agent's held sync call is cut (its process died, or its machine) and it does not call again
 * within a grace, its node becomes Ready=Unknown (AgentDisconnected) at once, and node-lifecycle's
 * eviction delay starts. Only runtimes that see the client go away (the local one) can tell;
 * elsewhere the lease expiry (node-lifecycle's grace period) is the detector.
 *
 * "Called again" is a sync of the node this server saw start after the cut, or else the Lease: an
 * agent whose call was cut drops the renewal time it echoes (agent/agent.ts), so its next sync
 * renews the Lease whatever its age (which another server instance's sync shows).
 */
import { findCondition, setCondition } from '../../../schemas/conditions';
import { isoTime } from '../../../schemas/time';
import type { Deps } from '../../deps';
import { retryOnConflict } from '../../store/retry';
import { NODE_LEASE_NAMESPACE } from './lease';
import { lastSyncStartedAt, syncLagMs } from './sync-lag';

export const DISCONNECT_GRACE_MS = 2_000;

/** Pending disconnect checks per store, so a control plane that shuts down cancels them. */
const pendingChecks = new WeakMap<object, Set<NodeJS.Timeout>>();

/** Cancels the disconnect checks still pending against this store (call before closing it). */
export function cancelDisconnectChecks(store: object): void {
  for (const t of pendingChecks.get(store) ?? []) clearTimeout(t);
  pendingChecks.delete(store);
}

/**
 * After `graceMs`, marks the node Unknown unless its Lease was renewed since now. The grace grows
 * by how late syncs are arriving lately (sync-lag.ts): a server that is behind takes the agent's
 * reconnection in later, which is no disconnection.
 */
export function suspectDisconnect(deps: Deps, nodeName: string, graceMs = DISCONNECT_GRACE_MS): void {
  const cutAt = deps.clock();
  const wait = graceMs + syncLagMs(deps.store, cutAt);
  const pending = pendingChecks.get(deps.store) ?? new Set<NodeJS.Timeout>();
  pendingChecks.set(deps.store, pending);
  const timer = setTimeout(() => {
    pending.delete(timer);
    markIfGone(deps, nodeName, cutAt).catch((err) =>
      deps.log.warn('checking a disconnected node failed', { node: nodeName, error: String(err) }),
    );
  }, wait);
  timer.unref?.();
  pending.add(timer);
}

async function markIfGone(deps: Deps, nodeName: string, cutAt: number): Promise<void> {
  // A reconnection already in this process's socket buffers is no disconnection: two turns of the
  // event loop accept its connection and read its request, which starts its sync, before looking.
  // (A server behind on its CPU took such syncs in seconds late and marked hundreds of live nodes.)
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  // The agent called again (its sync reached this server after the cut): it is there, however
  // long that sync takes to renew the Lease behind a busy server.
  if ((lastSyncStartedAt(deps.store, nodeName) ?? Number.NEGATIVE_INFINITY) > cutAt) return;
  // Consistent: a renewal just made by the reconnected agent must be seen, or a live node is marked.
  const lease = await deps.store.get({ kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name: nodeName });
  const renewed = Date.parse(((lease?.spec ?? {}) as { renewTime?: string }).renewTime ?? '');
  if (renewed > cutAt) return;
  await retryOnConflict(async (current) => {
    const node = current ?? (await deps.store.get({ kind: 'Node', name: nodeName }));
    if (!node || findCondition(node, 'Ready')?.status !== 'True') return;
    const status = (node.status ?? {}) as { conditions?: [] };
    const conditions = setCondition(
      status.conditions,
      {
        type: 'Ready',
        status: 'Unknown',
        reason: 'AgentDisconnected',
        message: 'The agent dropped its connection and did not reconnect.',
      },
      isoTime(deps.clock()),
    );
    await deps.store.update({ ...node, status: { ...status, conditions } });
    deps.log.warn('node agent disconnected; node marked NotReady', { node: nodeName });
  });
}
