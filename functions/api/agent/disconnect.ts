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
import { lastSyncStartedAt, nodesHeardFrom, syncLagMs } from './sync-lag';

export const DISCONNECT_GRACE_MS = 2_000;
/**
 * The fast path is for one agent's death. When more than this share of the nodes heard from lately
 * (and at least MIN_ABSENT of them) were cut and have not called again, it is the path between
 * them and this server that is behind (a starved server or network, a machine whose CPU the
 * agents share), or a failure of many at once: those nodes are left to their Leases, judged with
 * node-lifecycle's grace plus the lag. Measured: a 1,000-node bench on a machine at load 11, whose
 * simulated agents took seconds to call again after cutting a held sync to report, had 994 nodes
 * marked Unknown this way and none by their Leases.
 */
const ABSENT_SHARE = 0.05;
const MIN_ABSENT = 3;
/** A node cut and not back counts as absent this long (past node-lifecycle's default grace). */
const ABSENT_FOR_MS = 30_000;

/** Pending disconnect checks per store, with when each node's call was cut (a node once: its latest cut). */
const pendingChecks = new WeakMap<object, { timers: Set<NodeJS.Timeout>; cuts: Map<string, number> }>();

/** Cancels the disconnect checks still pending against this store (call before closing it). */
export function cancelDisconnectChecks(store: object): void {
  for (const t of pendingChecks.get(store)?.timers ?? []) clearTimeout(t);
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
  const pending = pendingChecks.get(deps.store) ?? { timers: new Set<NodeJS.Timeout>(), cuts: new Map() };
  pendingChecks.set(deps.store, pending);
  pending.cuts.set(nodeName, cutAt);
  const timer = setTimeout(() => {
    pending.timers.delete(timer);
    markIfGone(deps, nodeName, cutAt, pending.cuts).catch((err) =>
      deps.log.warn('checking a disconnected node failed', { node: nodeName, error: String(err) }),
    );
  }, wait);
  timer.unref?.();
  pending.timers.add(timer);
}

/** Whether the nodes cut and not back are too many for one agent's death to be the reason. */
function manyAbsent(deps: Deps, cuts: Map<string, number>, now: number): boolean {
  const limit = Math.max(MIN_ABSENT, Math.ceil(nodesHeardFrom(deps.store) * ABSENT_SHARE));
  let absent = 0;
  for (const [node, cutAt] of cuts) {
    const back = (lastSyncStartedAt(deps.store, node) ?? Number.NEGATIVE_INFINITY) > cutAt;
    // Back, or cut so long ago that its Lease has judged it: no longer absent here.
    if (back || now - cutAt > ABSENT_FOR_MS) cuts.delete(node);
    else if (++absent > limit) return true;
  }
  return false;
}

async function markIfGone(deps: Deps, nodeName: string, cutAt: number, cuts: Map<string, number>): Promise<void> {
  // A reconnection already in this process's socket buffers is no disconnection: two turns of the
  // event loop accept its connection and read its request, which starts its sync, before looking.
  // (A server behind on its CPU took such syncs in seconds late and marked hundreds of live nodes.)
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  // The agent called again (its sync reached this server after the cut): it is there, however
  // long that sync takes to renew the Lease behind a busy server.
  const back = (lastSyncStartedAt(deps.store, nodeName) ?? Number.NEGATIVE_INFINITY) > cutAt;
  // Left to its Lease, it still counts as absent for the checks of the others cut with it.
  if (!back && manyAbsent(deps, cuts, deps.clock())) return;
  if (cuts.get(nodeName) === cutAt) cuts.delete(nodeName);
  if (back) return;
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
