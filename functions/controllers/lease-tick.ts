/**
 * The lease tick: on Lambda the liveness check runs when a batch of the lease stream arrives, and a
 * batch arrives only when some Lease was written. A cluster whose other nodes renew rarely (one
 * node, a few, or a few left alive) would see its next batch long after a dead node's grace ran
 * out: the one-minute schedule bounded detection at grace + 60 s. So each lease-stream or
 * scheduled invocation that still has a node to watch writes one small Lease of its own
 * (`kube-system/ferry-controllers-tick`, renewTime only: one conditional write, no read), whose
 * stream record is the next batch at most one batch window later. The checks then come at least
 * every batch window (plus the invocation's own time) whatever the nodes do, which the overdue
 * check needs (overdue.ts). When nodes renew often the tick rides in their batches (one write a
 * batch, no extra invocation); a cluster without nodes, or whose nodes are all NotReady, writes none.
 * node-lifecycle and the heartbeat table look only at `kube-node-lease`, and Leases trigger no pass.
 */
import type { Lease } from '../../schemas';
import { isLostRace } from '../errors';
import { untracked } from '../node-desired';
import { replaceOrCreate } from '../store/retry';
import type { StateStore } from '../store/types';

export const TICK_LEASE = { namespace: 'kube-system', name: 'ferry-controllers-tick' } as const;

export class LeaseTick {
  /** The renewTime this container wrote last: the condition of its next one-write renewal. */
  private last: string | undefined;

  async write(deps: StateStore, now: number): Promise<void> {
    // A tick moves no node's desired state: the store under the NodeDesired decorator takes it.
    const store = untracked(deps);
    const renewTime = new Date(now).toISOString();
    const ref = { kind: 'Lease', ...TICK_LEASE };
    if (this.last !== undefined && this.last !== renewTime && store.renewLeaseObject) {
      try {
        await store.renewLeaseObject(ref, { holder: TICK_LEASE.name, previousRenewTime: this.last, renewTime });
        this.last = renewTime;
        return;
      } catch (err) {
        // Another container ticked meanwhile (a new one after a recycle): read and replace once.
        if (!isLostRace(err)) throw err;
      }
    }
    const lease: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...TICK_LEASE },
      spec: { holderIdentity: TICK_LEASE.name, renewTime },
    };
    await replaceOrCreate(store, lease);
    this.last = renewTime;
  }
}
