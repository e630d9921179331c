/**
 * The node's NodeDesired record as a sync sees it (functions/node-desired.ts): read it (the one
 * read of a quiet sync), create it for a node that has none, and, on runtimes that hold quiet
 * syncs, wait until it moves.
 */
import type { SyncVersions } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import { ForbiddenError } from '../../errors';
import { createNodeDesired, NODE_DESIRED_KIND, type NodeDesired, nodeDesiredRef, untracked } from '../../node-desired';
import { MAX_SYNC_WAIT_SECONDS } from './modes';
import { wakeAt } from './wake';

/**
 * Eventually consistent: every write lands before it bumps this record, so a stale copy is one
 * that has not yet seen a bump; it answers "nothing changed" one sync longer, never a version newer
 * than the data behind it.
 */
export async function readDesired(deps: Deps, nodeName: string): Promise<NodeDesired> {
  const found = await deps.store.get<NodeDesired>(nodeDesiredRef(nodeName), { consistent: false });
  if (found) return found;
  // Consistent: refusing a node must not rest on a stale absence.
  const node = await deps.store.get({ kind: 'Node', name: nodeName });
  if (!node) throw new ForbiddenError(`node "${nodeName}" is not registered; register it again`);
  // A node's first sync (or its record was lost): create it; every section reads as moved.
  await createNodeDesired(untracked(deps.store), deps.clock, nodeName);
  const created = await deps.store.get<NodeDesired>(nodeDesiredRef(nodeName));
  if (!created) throw new Error(`NodeDesired ${nodeName} vanished after its creation`);
  return created;
}

interface Waiter {
  /** Called with the record as written: the waiter decides when to answer. */
  moved(record: NodeDesired): void;
  /** Ends the hold now (the node asked: `releaseHeldSyncs`). */
  release(): void;
}

interface Waiting {
  byNode: Map<string, Set<Waiter>>;
  /** Wakes that found no held sync, by node (server clock, ms): the node's next hold answers at once. */
  wokenAt: Map<string, number>;
  /** When each node was last answered with something that moved (server clock, ms). */
  answeredAt: Map<string, number>;
  unwatch: () => void;
}

/**
 * The held syncs waiting per store, by node: one store listener for all of them, since a store
 * copies every change for each listener and a server holds a sync per node (thousands).
 */
const waiting = new WeakMap<object, Waiting>();

function waitingOf(deps: Deps): Waiting {
  const key = untracked(deps.store);
  let entry = waiting.get(key);
  if (!entry) {
    const byNode = new Map<string, Set<Waiter>>();
    const unwatch = deps.store.watch((ev) => {
      if (ev.object.kind !== NODE_DESIRED_KIND) return;
      for (const w of [...(byNode.get(ev.object.metadata.name) ?? [])]) w.moved(ev.object as NodeDesired);
    });
    entry = { byNode, wokenAt: new Map(), answeredAt: new Map(), unwatch };
    waiting.set(key, entry);
  }
  return entry;
}

/** The node's sync answered with sections that moved: the next wakes of its held syncs count from now. */
export function noteAnswered(deps: Deps, nodeName: string, at: number): void {
  const { answeredAt, byNode } = waitingOf(deps);
  // Forget nodes answered long ago (gone, or quiet): their next wake is at once anyway.
  if (answeredAt.size > 2 * Math.max(1_000, byNode.size)) {
    for (const [n, t] of answeredAt) if (at - t > 2 * MAX_SYNC_WAIT_SECONDS * 1000) answeredAt.delete(n);
  }
  answeredAt.set(nodeName, at);
}

/**
 * Resolves when the node's record moved, as coalesced by wake.ts (or after `ms`, or when `signal`
 * aborts): true if it moved while waiting (a quiet hold needs no second read of it). `held`: the
 * versions the agent holds, which tell a move of its work from one of the routes alone (without
 * them every move is work).
 */
export function waitForDesired(
  deps: Deps,
  nodeName: string,
  ms: number,
  signal?: AbortSignal,
  held?: Partial<SyncVersions>,
): Promise<boolean> {
  const entry = waitingOf(deps);
  // Woken before this hold reached here (the wake overtook the sync on the agent's other
  // connection): answer now, as the release would have.
  const woken = entry.wokenAt.get(nodeName);
  if (woken !== undefined) {
    entry.wokenAt.delete(nodeName);
    if (deps.clock() - woken <= WAKE_KEPT_MS) return Promise.resolve(false);
  }
  return new Promise<boolean>((resolve) => {
    let due: number | undefined;
    let wake: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      moved(record) {
        const now = deps.clock();
        const at = wakeAt(record, held, nodeName, now, entry.answeredAt.get(nodeName), entry.byNode.size);
        if (due !== undefined && due <= at) return;
        due = at;
        clearTimeout(wake);
        if (at <= now) done();
        else wake = setTimeout(done, at - now);
      },
      release: () => done(),
    };
    const done = () => {
      clearTimeout(timer);
      clearTimeout(wake);
      const set = entry.byNode.get(nodeName);
      set?.delete(waiter);
      if (set?.size === 0) entry.byNode.delete(nodeName);
      signal?.removeEventListener('abort', done);
      resolve(due !== undefined);
    };
    const timer = setTimeout(done, ms);
    const set = entry.byNode.get(nodeName) ?? new Set<Waiter>();
    set.add(waiter);
    entry.byNode.set(nodeName, set);
    if (signal?.aborted) done();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Reconnects a second a restarted server takes in comfortably (http-server.ts: 128 accept handles, a busy loop's few turns). */
const RECONNECTS_PER_SECOND = 1_000;
/** At most: well inside the Lease (10 s, modes.ts), so a spread reconnect never costs a node its Ready. */
const MAX_RECONNECT_SPREAD_SECONDS = 5;

/**
 * Over how long this server's agents should spread their reconnects if it goes away (a restart
 * drops every held sync at once): one second a thousand of the nodes holding a sync now, at most
 * 5 s; nothing under 100 nodes, where all of them reconnecting at once is no burst.
 */
export function reconnectSpreadSeconds(deps: Deps): number | undefined {
  const spread = Math.min(MAX_RECONNECT_SPREAD_SECONDS, waitingOf(deps).byNode.size / RECONNECTS_PER_SECOND);
  return spread >= 0.1 ? Math.round(spread * 10) / 10 : undefined;
}

/**
 * How long a wake that found no held sync is kept for the node's next one. The agent asks only
 * while a held sync of its is in flight, so the next hold is that sync, late in reaching the
 * server: within its client's timeout (the hold and 15 s). Kept longer it would only answer one
 * later quiet sync early (a wake that crossed its sync's answer), which costs one round trip.
 */
export const WAKE_KEPT_MS = 15_000;

/**
 * Answers the node's held syncs now, with whatever moved (usually nothing), so the agent can send
 * a report on the connection it already has. An agent that must report while its sync is held
 * asks for this (`/agent/v1/wake`) instead of cutting the call: a cut closes the connection, and
 * Node accepts one new connection per event-loop turn, so at 1,000 nodes the connections the cuts
 * opened waited seconds in the listen queue. When none is held yet (the sync is still on its way,
 * 509 cuts a minute at 1,000 nodes before this), the wake is kept for the node's next hold, which
 * then answers at once: `kept` tells the agent not to cut.
 */
export function releaseHeldSyncs(deps: Deps, nodeName: string): { released: number; kept: boolean } {
  const entry = waitingOf(deps);
  const held = [...(entry.byNode.get(nodeName) ?? [])];
  for (const w of held) w.release();
  if (held.length > 0) return { released: held.length, kept: false };
  const now = deps.clock();
  // Bounded: wakes older than they are kept are dropped once the map outgrows the holds.
  if (entry.wokenAt.size > Math.max(1_000, entry.byNode.size)) {
    for (const [n, t] of entry.wokenAt) if (now - t > WAKE_KEPT_MS) entry.wokenAt.delete(n);
  }
  entry.wokenAt.set(nodeName, now);
  return { released: 0, kept: true };
}
