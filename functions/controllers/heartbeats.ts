/**
 * The node heartbeats a controller manager has seen: each node Lease's last renewal, kept in
 * memory so the frequent liveness check (every second locally; on Lambda each batch of the lease
 * stream and each minute) does not list every Lease (issue 12: detection rides on the renewals the
 * syncs write anyway, not on a scan).
 *
 * Fed by the Lease writes as they happen (the local store watch; on Lambda the lease stream's new
 * images) and reset by every full pass from its snapshot, which is the store's word. A missed write
 * only makes a renewal look older than it is: the check then runs a full pass, which reads the
 * Leases themselves before node-lifecycle decides anything. It never makes a dead node look alive.
 */
import type { Lease } from '../../schemas';
import { NODE_LEASE_NAMESPACE } from './node-lifecycle';

export class HeartbeatTable {
  private renewed = new Map<string, number>();
  private fed = false;
  private seeded = false;

  /** True once writes are fed in and a pass has seeded it: the check may then trust it. */
  get live(): boolean {
    return this.fed && this.seeded;
  }

  /** The renewals, node name -> ms. */
  get renewals(): ReadonlyMap<string, number> {
    return this.renewed;
  }

  /**
   * A pass's Leases (listed at `listedAt`) replace the table. A renewal seen since that is newer than
   * the listed one is kept (the list may be an eventually consistent read), and so is a Lease the
   * list missed that was renewed after it was taken (a node that registered during the pass).
   */
  seed(leases: Lease[], listedAt: number): void {
    const next = new Map<string, number>();
    for (const [name, at] of this.renewed) if (at >= listedAt) next.set(name, at);
    for (const lease of leases) {
      if (lease.metadata.namespace !== NODE_LEASE_NAMESPACE) continue;
      const listed = renewalOf(lease);
      next.set(lease.metadata.name, Math.max(listed, next.get(lease.metadata.name) ?? Number.NEGATIVE_INFINITY));
    }
    this.renewed = next;
    this.seeded = true;
  }

  /** A node's Lease found gone by a read (overdue.ts): nothing is left to judge it by. */
  forget(name: string): void {
    this.renewed.delete(name);
  }

  /** A Lease written (created, renewed) or, with `deleted`, removed. Other Leases are ignored. */
  note(lease: Lease, deleted = false): void {
    if (lease.metadata.namespace !== NODE_LEASE_NAMESPACE) return;
    this.fed = true;
    if (deleted) {
      this.renewed.delete(lease.metadata.name);
      return;
    }
    const at = renewalOf(lease);
    if (at > (this.renewed.get(lease.metadata.name) ?? Number.NEGATIVE_INFINITY))
      this.renewed.set(lease.metadata.name, at);
  }
}

/** A Lease without a readable renewTime counts as never renewed (NaN would compare as fresh nowhere). */
function renewalOf(lease: Lease): number {
  const at = Date.parse(lease.spec?.renewTime ?? '');
  return Number.isNaN(at) ? 0 : at;
}
