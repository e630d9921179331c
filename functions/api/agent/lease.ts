/**
 * The node's heartbeat: its Lease in `kube-node-lease` (as Kubernetes' node leases), renewed by a
 * sync only when, by the agent's next sync (`nextSyncMs` away: 0 for a held runtime's, which calls
 * again at once), the previous renewal would be older than `renewAfterSeconds` (api/agent/modes.ts),
 * so a heartbeat is at most one small write and often none, and the gap between renewals is bounded
 * whatever the sync intervals are. The agent echoes the `leaseRenewedAt` of the previous answer; a
 * node that lies about it only lets its own Lease expire.
 */

import type { Deps } from '../../deps';
import { replaceOrCreate } from '../../store/retry';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Renews the node's Lease if due; returns when it was last renewed (server clock, ms). */
export async function heartbeat(
  deps: Deps,
  nodeName: string,
  previousRenewal: number | undefined,
  durationSeconds: number,
  renewAfterSeconds: number,
  nextSyncMs = 0,
): Promise<number> {
  const now = deps.clock();
  const age = previousRenewal === undefined ? Number.POSITIVE_INFINITY : now - previousRenewal;
  // A renewal "from the future" (another server's clock, a forged value) is not trusted.
  if (age >= 0 && age + nextSyncMs < renewAfterSeconds * 1000) return previousRenewal as number;
  await renewLease(deps, nodeName, durationSeconds, now);
  return now;
}

/**
 * One write, no read: the Lease is the node's alone, so the update carries no resourceVersion and
 * replaces the whole (tiny) object; the first one creates it.
 */
async function renewLease(deps: Deps, nodeName: string, durationSeconds: number, now: number): Promise<void> {
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: durationSeconds, renewTime: new Date(now).toISOString() },
  };
  // Two syncs of one node racing to create it: the loser replaces what the winner created.
  await replaceOrCreate(deps.store, lease);
}
