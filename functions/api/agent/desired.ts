/**
 * The node's NodeDesired record as a sync sees it (functions/node-desired.ts): read it (the one
 * read of a quiet sync), create it for a node that has none, and, on runtimes that hold quiet
 * syncs, wait until it moves.
 */
import type { SyncVersions } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import { ForbiddenError } from '../../errors';
import { createNodeDesired, NODE_DESIRED_KIND, type NodeDesired, nodeDesiredRef, untracked } from '../../node-desired';

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

/**
 * Wakes are coalesced per node. A held sync woken by a move of its pods, config or logs is answered
 * at once, unless the node was last answered with changes less than WORK_WAKE_INTERVAL_MS ago:
 * then at that interval's end, with everything that moved meanwhile (a node whose desired state
 * moves ten times in a second is answered once or twice, not ten times). A move of the routes (or
 * the ingress table) alone, every node's at once whenever an endpoint changes, is answered at
 * most every ROUTES_WAKE_INTERVAL_MS and spread over ROUTES_SPREAD_MS by the node's name, so a
 * route change is not a thousand answers in one burst of the event loop. Nothing is lost: the
 * answer reads the record after the wait and sends every section that moved since the versions
 * the agent holds. Measured at 1,000 nodes (README, scale): see functions/api/agent/README.md.
 */
export const WORK_WAKE_INTERVAL_MS = 1_000;
/** kube-proxy's own default floor between two syncs of its rules is 1 s (--iptables-min-sync-period). */
export const ROUTES_WAKE_INTERVAL_MS = 2_000;
export const ROUTES_SPREAD_MS = 1_000;

interface Waiter {
  /** Called with the record as written: the waiter decides when to answer. */
  moved(record: NodeDesired): void;
}

interface Waiting {
  byNode: Map<string, Set<Waiter>>;
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
    entry = { byNode, answeredAt: new Map(), unwatch };
    waiting.set(key, entry);
  }
  return entry;
}

/** The node's sync answered with sections that moved: the next wakes of its held syncs count from now. */
export function noteAnswered(deps: Deps, nodeName: string, at: number): void {
  const { answeredAt, byNode } = waitingOf(deps);
  // Forget nodes answered long ago (gone, or quiet): their next wake is at once anyway.
  if (answeredAt.size > 2 * Math.max(1_000, byNode.size)) {
    for (const [n, t] of answeredAt) if (at - t > ROUTES_WAKE_INTERVAL_MS + ROUTES_SPREAD_MS) answeredAt.delete(n);
  }
  answeredAt.set(nodeName, at);
}

/** The node's own offset in the routes spread: the same node always lands on the same slot. */
export function routesSpreadMs(nodeName: string): number {
  let h = 2166136261;
  for (let i = 0; i < nodeName.length; i++) h = Math.imul(h ^ nodeName.charCodeAt(i), 16777619);
  return (h >>> 0) % ROUTES_SPREAD_MS;
}

/** When a move of `record` should answer a sync holding `held` (server clock, ms). */
export function wakeAt(
  record: NodeDesired,
  held: Partial<SyncVersions> | undefined,
  nodeName: string,
  now: number,
  answeredAt: number | undefined,
): number {
  const last = answeredAt ?? Number.NEGATIVE_INFINITY;
  const work =
    !held || record.spec.pods !== held.pods || record.spec.config !== held.config || record.spec.logs !== held.logs;
  if (work) return Math.max(now, last + WORK_WAKE_INTERVAL_MS);
  return Math.max(now + routesSpreadMs(nodeName), last + ROUTES_WAKE_INTERVAL_MS);
}

/**
 * Resolves when the node's record moved, as coalesced above (or after `ms`, or when `signal`
 * aborts). `held`: the versions the agent holds, which tell a move of its work from one of the
 * routes alone (without them every move is work).
 */
export function waitForDesired(
  deps: Deps,
  nodeName: string,
  ms: number,
  signal?: AbortSignal,
  held?: Partial<SyncVersions>,
): Promise<void> {
  const entry = waitingOf(deps);
  return new Promise((resolve) => {
    let due: number | undefined;
    let wake: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      moved(record) {
        const now = deps.clock();
        const at = wakeAt(record, held, nodeName, now, entry.answeredAt.get(nodeName));
        if (due !== undefined && due <= at) return;
        due = at;
        clearTimeout(wake);
        if (at <= now) done();
        else wake = setTimeout(done, at - now);
      },
    };
    const done = () => {
      clearTimeout(timer);
      clearTimeout(wake);
      const set = entry.byNode.get(nodeName);
      set?.delete(waiter);
      if (set?.size === 0) entry.byNode.delete(nodeName);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const set = entry.byNode.get(nodeName) ?? new Set<Waiter>();
    set.add(waiter);
    entry.byNode.set(nodeName, set);
    if (signal?.aborted) done();
    signal?.addEventListener('abort', done, { once: true });
  });
}
