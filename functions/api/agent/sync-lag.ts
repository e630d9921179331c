/**
 * How far behind the sync path is, as the agents' calls show it, with no clock but the server's.
 * The server remembers when it answered each node and when that node was told to call again (held
 * runtimes: at once). A node's heartbeat is late by how much later than that its next sync took its
 * heartbeat (the Lease renewal point of sync.ts): the answer's delivery, the agent's turn-around,
 * the request's wait in this server's queues (a full listen queue, a busy event loop), and the
 * sync's own work until the renewal (store calls behind a long controllers pass). A sync in flight
 * that has not reached its renewal counts as late by its age so far: a backlog of syncs shows at
 * once, not only when they finally get through.
 *
 * The lag is how late at least a twentieth of the nodes heard from lately (and at least 3 of them)
 * were: one node on a slow link, or one stuck call, moves it not at all; a server that is behind
 * delays many nodes at once and moves it for all. Nodes that are silent (dead, partitioned) add no
 * lateness: they never arrive. node-lifecycle extends its grace period by the lag and the
 * disconnect check its grace (the control plane's own slowness never becomes NotReady nodes); the
 * local runtime wires them. It is bounded, so no node can hold failure detection off for long by
 * being slow on purpose.
 */

import { untracked } from '../../node-desired';
import type { StateStore } from '../../store/types';

/** A node's lateness counts for this long after its sync took its heartbeat. */
const SAMPLE_WINDOW_MS = 30_000;
/** The share of the nodes heard from lately that must be late before the lateness is the control plane's. */
const LATE_SHARE = 0.05;
const MIN_LATE_NODES = 3;
/** The lag never extends the grace by more than this. */
export const MAX_SYNC_LAG_MS = 120_000;
/** lagMs() is read on every cut held sync: its answer is kept this long. */
const CACHE_MS = 250;

interface NodeTrack {
  /** When the node was told to call again (server clock): its next sync is late after this. */
  due?: number;
  /** A sync in flight that has not taken its heartbeat yet: the due time it started against. */
  inFlightDue?: number;
  /** The last sync's lateness at its heartbeat, and when that was. */
  late: number;
  lateAt: number;
  /** When its last sync started: a node quiet for the sample window is forgotten. */
  startedAt: number;
}

class SyncLag {
  private readonly nodes = new Map<string, NodeTrack>();
  private cached?: { at: number; lag: number };

  started(nodeName: string, at: number): void {
    const track = this.nodes.get(nodeName) ?? { late: 0, lateAt: Number.NEGATIVE_INFINITY, startedAt: at };
    this.nodes.set(nodeName, track);
    track.startedAt = at;
    // A first sync (or one after this server restarted) has nothing to be late against.
    if (track.due !== undefined) track.inFlightDue = track.due;
    track.due = undefined;
  }

  heartbeat(nodeName: string, at: number): void {
    const track = this.nodes.get(nodeName);
    if (track?.inFlightDue === undefined) return;
    track.late = Math.max(0, at - track.inFlightDue);
    track.lateAt = at;
    track.inFlightDue = undefined;
  }

  answered(nodeName: string, at: number, callAgainMs: number): void {
    const track = this.nodes.get(nodeName) ?? { late: 0, lateAt: Number.NEGATIVE_INFINITY, startedAt: at };
    this.nodes.set(nodeName, track);
    track.due = at + callAgainMs;
  }

  /** A sync that failed before its heartbeat: it is no backlog any more. */
  ended(nodeName: string): void {
    const track = this.nodes.get(nodeName);
    if (track) track.inFlightDue = undefined;
  }

  get size(): number {
    return this.nodes.size;
  }

  startedAt(nodeName: string): number | undefined {
    return this.nodes.get(nodeName)?.startedAt;
  }

  lagMs(now: number): number {
    if (this.cached && now - this.cached.at >= 0 && now - this.cached.at < CACHE_MS) return this.cached.lag;
    const late: number[] = [];
    for (const [name, track] of this.nodes) {
      if (track.inFlightDue !== undefined) late.push(Math.max(0, now - track.inFlightDue));
      else if (now - track.lateAt <= SAMPLE_WINDOW_MS) late.push(track.late);
      else if (now - Math.max(track.startedAt, track.due ?? 0) > SAMPLE_WINDOW_MS) this.nodes.delete(name); // gone quiet
    }
    let lag = 0;
    if (late.length > 0) {
      late.sort((a, b) => b - a);
      const enough = Math.max(MIN_LATE_NODES, Math.ceil(late.length * LATE_SHARE));
      lag = Math.min(MAX_SYNC_LAG_MS, late[Math.min(enough, late.length) - 1] as number);
    }
    this.cached = { at: now, lag };
    return lag;
  }
}

/** One tracker per store, as the waiters of desired.ts: every API handler over a store shares it. */
const trackers = new WeakMap<object, SyncLag>();

function trackerOf(given: StateStore): SyncLag {
  // The store under the NodeDesired decorator: the API and the runtime may hold either.
  const store = untracked(given);
  let t = trackers.get(store);
  if (!t) {
    t = new SyncLag();
    trackers.set(store, t);
  }
  return t;
}

/** A sync of `nodeName` started (server clock, ms). */
export function syncStarted(store: StateStore, nodeName: string, at: number): void {
  trackerOf(store).started(nodeName, at);
}

/** The sync of `nodeName` in flight reached its heartbeat (renewed the Lease or found it fresh). */
export function syncHeartbeat(store: StateStore, nodeName: string, at: number): void {
  trackerOf(store).heartbeat(nodeName, at);
}

/** A sync of `nodeName` was answered at `at`, telling the agent to call again after `callAgainMs`. */
export function syncAnswered(store: StateStore, nodeName: string, at: number, callAgainMs: number): void {
  trackerOf(store).answered(nodeName, at, callAgainMs);
}

/** A sync of `nodeName` ended, answered or failed (call in a finally). */
export function syncEnded(store: StateStore, nodeName: string): void {
  trackerOf(store).ended(nodeName);
}

/** When the last sync of `nodeName` this server saw started (server clock, ms), if it saw one lately. */
export function lastSyncStartedAt(store: StateStore, nodeName: string): number | undefined {
  return trackerOf(store).startedAt(nodeName);
}

/** How many nodes this store's API heard from lately (forgotten after the sample window of silence). */
export function nodesHeardFrom(store: StateStore): number {
  return trackerOf(store).size;
}

/** How late the agents' heartbeats have lately been reaching this store's API, ms, at `now`. */
export function syncLagMs(store: StateStore, now: number): number {
  return trackerOf(store).lagMs(now);
}
