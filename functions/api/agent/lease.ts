/**
 * The node's heartbeat: its Lease in `kube-node-lease` (as Kubernetes' node leases), renewed by a
 * sync only when, by the agent's next sync (`nextSyncMs` away: 0 for a held runtime's, which calls
 * again at once), the previous renewal would be older than `renewAfterSeconds` (api/agent/modes.ts),
 * so a heartbeat is at most one small write and often none, and the gap between renewals is bounded
 * whatever the sync intervals are. The agent echoes the `leaseRenewedAt` of the previous answer; a
 * node that lies about it only lets its own Lease expire.
 *
 * A renewal is the store's `renewLeaseObject`, conditional on that echoed renewal being the one
 * stored (on DynamoDB one conditional write, no read); when it is not (a first sync, a restarted
 * agent, a Lease someone else wrote, a table from before renewals had their own attributes) the
 * Lease is read and replaced.
 */

import type { Deps } from '../../deps';
import { isLostRace } from '../../errors';
import { untracked } from '../../node-desired';
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
  // Only a renewal time that can be one (a real date in the past) is a condition worth sending.
  const previous = age >= 0 && Number.isSafeInteger(previousRenewal) && (previousRenewal as number) > 0;
  await renewLease(deps, nodeName, durationSeconds, now, previous ? previousRenewal : undefined);
  return now;
}

/**
 * The renewal from the previous one where the agent knows it; otherwise the Lease is the node's
 * alone, so the replace carries no resourceVersion and the first one creates it.
 */
async function renewLease(
  deps: Deps,
  nodeName: string,
  durationSeconds: number,
  now: number,
  previous: number | undefined,
): Promise<void> {
  const renewTime = new Date(now).toISOString();
  // Leases move no node's desired state: the store under the NodeDesired decorator takes them.
  const store = untracked(deps.store);
  if (previous !== undefined && store.renewLeaseObject) {
    try {
      await store.renewLeaseObject(
        { kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name: nodeName },
        { holder: nodeName, previousRenewTime: new Date(previous).toISOString(), renewTime },
      );
      return;
    } catch (err) {
      if (!isLostRace(err)) throw err;
    }
  }
  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: durationSeconds, renewTime },
  };
  // Two syncs of one node racing to create it: the loser replaces what the winner created.
  await replaceOrCreate(deps.store, lease);
}
