/**
 * How far behind the sync path is, as the agents' calls show it, with no clock but the server's:
 * the server remembers when it answered each node and when that node was told to call again (held
 * runtimes: at once), and a node's next sync that starts later than that arrived late by the
 * difference (the answer's delivery, the agent's turn-around, and the request's wait in this
 * server's queues). The median over the last syncs is the lag: one slow node moves it not at all,
 * a server whose syncs queue up (a saturated event loop, a long controllers pass) moves it for
 * every node at once. The controller manager extends the node grace period by it (node-lifecycle:
 * the control plane's own slowness never becomes NotReady nodes); the local runtime wires the two.
 */

import { untracked } from '../../node-desired';
import type { StateStore } from '../../store/types';

const WINDOW = 255;

class SyncLag {
  private readonly answered = new Map<string, number>();
  private readonly gaps = new Float64Array(WINDOW);
  private count = 0;
  private next = 0;

  started(nodeName: string, at: number): void {
    const due = this.answered.get(nodeName);
    if (due === undefined) return;
    this.answered.delete(nodeName);
    this.gaps[this.next] = Math.max(0, at - due);
    this.next = (this.next + 1) % WINDOW;
    this.count = Math.min(WINDOW, this.count + 1);
  }

  answer(nodeName: string, at: number, callAgainMs: number): void {
    this.answered.set(nodeName, at + callAgainMs);
  }

  /** The median lateness of the last syncs, ms (0 before any). */
  lagMs(): number {
    if (this.count === 0) return 0;
    const recent = Array.from(this.gaps.subarray(0, this.count)).sort((a, b) => a - b);
    return recent[Math.floor(recent.length / 2)] as number;
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

/** A sync of `nodeName` was answered at `at`, telling the agent to call again after `callAgainMs`. */
export function syncAnswered(store: StateStore, nodeName: string, at: number, callAgainMs: number): void {
  trackerOf(store).answer(nodeName, at, callAgainMs);
}

/** How late the agents' syncs have lately been arriving at this store's API, ms. */
export function syncLagMs(store: StateStore): number {
  return trackerOf(store).lagMs();
}
