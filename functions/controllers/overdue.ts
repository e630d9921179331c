/**
 * The overdue check: where the heartbeat table learns renewals late (on Lambda, through the lease
 * stream's batches, up to a batch window after the write), the scheduled check must not take a
 * renewal still on its way for a missed one, nor wait for the next batch to find a missed one.
 *
 * A node is overdue when its last renewal seen is older than `overdueAfterMs` (the longest gap
 * between a live agent's renewals: api/agent/modes.ts renews at most 42 s apart). Its Lease is then
 * read from the store (one strongly consistent get: a renewal that returned is seen) and the table
 * takes what it finds. A node still overdue whose grace runs out within `graceMs - overdueAfterMs`
 * is waited for, in the same invocation, its Lease read again each second until it is renewed or
 * its grace ran out: so a node that stopped renewing is judged stale at its grace period, not at
 * the first check after it (a batch window later), as long as some check falls between
 * `overdueAfterMs` and the grace (the lease ticks make sure one does: lease-tick.ts). A live
 * node's renewal costs at most the one get while its record is on the way; only a node that
 * really missed its renewal makes a check wait: no longer than it is late, at most
 * grace - overdueAfterMs.
 */
import type { Lease } from '../../schemas';
import type { StateStore } from '../store/types';
import type { HeartbeatTable } from './heartbeats';
import { NODE_LEASE_NAMESPACE } from './node-lifecycle';

export interface OverdueOptions {
  overdueAfterMs: number;
  graceMs: number;
  /** Waits that long (a timer; tests pass a fake clock's). */
  sleep: (ms: number) => Promise<void>;
}

/**
 * Reads the overdue nodes' Leases into `table`, waiting for the first grace to run out when it runs
 * out within `graceMs - overdueAfterMs`. Nodes in `unknown` are not looked at: they are NotReady
 * already, and their renewal (a node back) reaches the table on the stream. Returns the reads made.
 */
export async function refreshOverdue(
  store: StateStore,
  table: HeartbeatTable,
  unknown: ReadonlySet<string>,
  clock: () => number,
  options: OverdueOptions,
): Promise<number> {
  let reads = 0;
  const readOverdue = async (): Promise<string[]> => {
    const now = clock();
    const overdue = [...table.renewals]
      .filter(([name, at]) => !unknown.has(name) && now - at > options.overdueAfterMs)
      .map(([name]) => name);
    // Many at once (the function was busy while their records queued): one list costs less than
    // a get each (a Query is billed by its bytes, about 13 Leases per 4 KB).
    let found: Map<string, Lease | undefined>;
    if (overdue.length > LIST_ABOVE) {
      reads++;
      const leases = (await store.list<Lease>('Lease', { namespace: NODE_LEASE_NAMESPACE })).items;
      const byName = new Map(leases.map((l) => [l.metadata.name, l]));
      found = new Map(overdue.map((name) => [name, byName.get(name)]));
    } else {
      found = new Map();
      for (const name of overdue) {
        reads++;
        found.set(name, await store.get<Lease>({ kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name }));
      }
    }
    const still: string[] = [];
    for (const [name, lease] of found) {
      if (!lease) {
        table.forget(name);
        continue;
      }
      table.note(lease);
      if (clock() - (table.renewals.get(name) ?? 0) > options.overdueAfterMs) still.push(name);
    }
    return still;
  };
  // Read again each second until none is overdue or the earliest grace ran out: a node that is
  // only late (its agent's sync retried) holds the check no longer than it is late.
  for (let still = await readOverdue(); still.length > 0; still = await readOverdue()) {
    const now = clock();
    const due = still
      .map((name) => (table.renewals.get(name) ?? 0) + options.graceMs)
      .filter((at) => at >= now && at - now <= options.graceMs - options.overdueAfterMs);
    if (due.length === 0) break;
    await options.sleep(Math.min(Math.min(...due) - now + 1, RECHECK_MS));
  }
  return reads;
}

/** Above this many overdue nodes their Leases are listed, not read one by one. */
const LIST_ABOVE = 8;
/** How often a waiting check reads the overdue Leases again. */
const RECHECK_MS = 1_000;
