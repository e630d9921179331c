/**
 * The server's side of beats (schemas/agent-beats.ts): a held sync whose body streams a beat every
 * BEAT_EVERY_SECONDS proves its agent alive without a new request, so the hold can be BEAT_HOLD_SECONDS
 * instead of 5 s (issue 12: at 5,000 nodes the 5 s holds were 1,000 syncs a second, a core of
 * HTTP work before anything else).
 *
 * A beat is noted in memory only. Once a second the Leases of the nodes whose last beat is
 * `renewAfterSeconds` past their last renewal are renewed, all in one `writeBatch` (SQLite: one
 * transaction per 64), each with its renewal time set to its last beat, not to the write: a node
 * that stops beating (a hung agent keeps its socket; a machine gone without a FIN) has a Lease as
 * old as its last beat, and goes NotReady by node-lifecycle's grace exactly as a node that stopped
 * syncing did. A dropped connection is still the fast path (disconnect.ts, through the sync's
 * abort signal). A beat only ever renews the Lease of the node whose credential the request
 * carries: it names nothing.
 */
import { BEAT_BYTE, type SyncBeatsOffer, WAKE_BYTE } from '../../../schemas/agent-beats';
import type { Deps } from '../../deps';
import { untracked } from '../../node-desired';
import type { Obj, WriteOp } from '../../store/types';
import type { AgentSyncConfig, BodyTail } from '../types';
import { heartbeat, NODE_LEASE_NAMESPACE } from './lease';

/** Below the Lease's renewal bound (3 s), so each renewal is due at a beat, not between two. */
export const BEAT_EVERY_SECONDS = 2;
/**
 * A beat-streamed sync is held this long: a quarter of the syncs of 5 s holds. Below the HTTP
 * server's 30 s bound on receiving a whole request (http-server.ts requestMs), which the body's
 * end (the agent ends it when the answer comes) must beat.
 */
export const BEAT_HOLD_SECONDS = 20;
export const BEATS_OFFER: SyncBeatsOffer = {
  everySeconds: BEAT_EVERY_SECONDS,
  holdSeconds: BEAT_HOLD_SECONDS,
  wakes: true,
};
/** How often the renewals due are written. */
const FLUSH_MS = 1_000;
/**
 * Bytes a beat stream may send in all: a beat every 2 s for 20 s is 10. Past it (a flood) the
 * stream is cut, as on garbage.
 */
const MAX_BEAT_BYTES = 1_024;

/** What a held sync needs from its beat stream (sync.ts). */
export interface SyncBeats {
  /** How long the sync may be held. */
  holdSeconds: number;
  /** The sync is about to hold: the answer head goes out now (agent-routes.ts). */
  holding(): void;
  /** The sync's own heartbeat renewed the Lease (or found it fresh) at `at`. */
  renewed(at: number): void;
  /** The last renewal made for this node (server clock, ms), the answer's `leaseRenewedAt`. */
  renewedAt(): number | undefined;
  /**
   * Whether the beats renew the Lease whose renewal the agent echoes (this table wrote it last and
   * holds it): then the sync writes none of its own, the next renewal is in the batch.
   */
  holdsLease(echoed: number | undefined): boolean;
}

interface Beating {
  /** Beat streams open for the node (a retry may overlap the call it replaces). */
  streams: number;
  beatAt: number;
  /** Its Lease's renewal time as stored (undefined: unknown, the next renewal replaces it). */
  renewedAt?: number;
  /** The Lease as this table last wrote it: the next renewal is a conditional update of it. */
  lease?: Obj;
  /** When its last stream closed: kept a while for the node's next sync (which comes at once), so its Lease stays held. */
  closedAt?: number;
}

/** A node with no beat stream open is forgotten after this (its next sync starts again with a write). */
const KEEP_CLOSED_MS = 30_000;

class BeatTable {
  readonly nodes = new Map<string, Beating>();
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;

  constructor(
    private readonly deps: Deps,
    private readonly mode: AgentSyncConfig,
  ) {}

  open(nodeName: string): Beating {
    const now = this.deps.clock();
    const entry = this.nodes.get(nodeName) ?? { streams: 0, beatAt: now };
    entry.streams++;
    // The sync's arrival is itself a sign of life.
    entry.beatAt = Math.max(entry.beatAt, now);
    entry.closedAt = undefined;
    this.nodes.set(nodeName, entry);
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), FLUSH_MS);
      this.timer.unref?.();
    }
    return entry;
  }

  close(_nodeName: string, entry: Beating): void {
    if (--entry.streams > 0) return;
    entry.closedAt = this.deps.clock();
  }

  /** Forgets nodes without a stream for KEEP_CLOSED_MS; the timer stops with the last. */
  private sweep(now: number): void {
    for (const [name, b] of this.nodes)
      if (b.streams === 0 && now - (b.closedAt ?? now) > KEEP_CLOSED_MS) this.nodes.delete(name);
    if (this.nodes.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Writes the renewals due: one batch for the Leases this table wrote last, a heartbeat each for the others. */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      this.sweep(this.deps.clock());
      const afterMs = this.mode.renewAfterSeconds * 1000;
      // Only while a stream is open, and not before the sync's own heartbeat said where the Lease stands.
      const due = [...this.nodes].filter(
        ([, b]) => b.streams > 0 && b.renewedAt !== undefined && b.beatAt - b.renewedAt >= afterMs,
      );
      const batch = due.filter(([, b]) => b.lease !== undefined);
      const ops: WriteOp[] = batch.map(([, b]) => {
        const lease = b.lease as Obj;
        const renewTime = new Date(b.beatAt).toISOString();
        return { op: 'update', object: { ...lease, spec: { ...(lease.spec as object), renewTime } } };
      });
      const results = ops.length ? await untracked(this.deps.store).writeBatch(ops) : [];
      results.forEach((r, i) => {
        const [, b] = batch[i] as [string, Beating];
        // Someone else wrote the Lease (the sync's own heartbeat, another server): renewed one by one below.
        b.lease = r.ok ? r.object : undefined;
        if (r.ok) b.renewedAt = Date.parse((r.object.spec as { renewTime: string }).renewTime);
      });
      for (const [name, b] of due) if (b.lease === undefined) await this.renewOne(name, b);
    } catch (err) {
      this.deps.log.warn('renewing beating nodes failed', { error: String(err) });
    } finally {
      this.flushing = false;
    }
  }

  /** A node whose stored Lease this table does not hold: the sync's heartbeat path, then a read to hold it. */
  private async renewOne(name: string, b: Beating): Promise<void> {
    const at = b.beatAt;
    await heartbeat({ ...this.deps, clock: () => at }, name, b.renewedAt, this.mode.leaseDurationSeconds, 0);
    b.renewedAt = at;
    b.lease = await this.deps.store.get({ kind: 'Lease', namespace: NODE_LEASE_NAMESPACE, name });
  }
}

const tables = new WeakMap<object, BeatTable>();

function tableOf(deps: Deps, mode: AgentSyncConfig): BeatTable {
  const key = untracked(deps.store);
  let t = tables.get(key);
  if (!t) {
    t = new BeatTable(deps, mode);
    tables.set(key, t);
  }
  return t;
}

/**
 * Counts the beats of one held sync's body tail for `nodeName` (the node of the request's
 * credential), and calls `onWake` on each wake byte (BEATS_OFFER has `wakes`): the caller answers
 * the node's held sync. A wake is a beat too. Garbage or a flood cuts the connection (the sync's
 * abort then runs the disconnect check). Returns the sync's view of it and `close`, to call when
 * the sync is answered.
 */
export function countBeats(
  deps: Deps,
  mode: AgentSyncConfig,
  nodeName: string,
  tail: BodyTail,
  onHold: () => void,
  onWake: () => void,
): { beats: SyncBeats; close(): void } {
  const table = tableOf(deps, mode);
  const entry = table.open(nodeName);
  let bytes = 0;
  let open = true;
  tail.read(
    (chunk) => {
      if (!open) return;
      bytes += chunk.length;
      if (bytes > MAX_BEAT_BYTES || chunk.some((b) => b !== BEAT_BYTE && b !== WAKE_BYTE)) {
        open = false;
        deps.log.warn('a held sync sent what is no beat; its connection is cut', { node: nodeName });
        tail.destroy();
        return;
      }
      entry.beatAt = Math.max(entry.beatAt, deps.clock());
      if (chunk.includes(WAKE_BYTE)) onWake();
    },
    () => {
      open = false;
    },
  );
  const beats: SyncBeats = {
    holdSeconds: BEAT_HOLD_SECONDS,
    holding: onHold,
    renewed(at) {
      // Renewed by the sync (not found fresh): the Lease this table held is stale.
      if (entry.renewedAt !== at) entry.lease = undefined;
      entry.renewedAt = at;
      entry.beatAt = Math.max(entry.beatAt, at);
    },
    renewedAt: () => entry.renewedAt,
    holdsLease: (echoed) => echoed !== undefined && entry.lease !== undefined && entry.renewedAt === echoed,
  };
  let closed = false;
  return {
    beats,
    close: () => {
      open = false;
      if (closed) return;
      closed = true;
      table.close(nodeName, entry);
    },
  };
}

/** For tests: the renewals due written now, as the next tick would. */
export function flushBeatRenewals(deps: Deps, mode: AgentSyncConfig): Promise<void> {
  return tableOf(deps, mode).flush();
}
