/**
 * The node's NodeDesired record as a sync sees it (functions/node-desired.ts): read it (the one
 * read of a quiet sync), create it for a node that has none, and, on runtimes that hold quiet
 * syncs, wait until it moves.
 */
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
 * The held syncs waiting per store, by node: one store listener for all of them, since a store
 * copies every change for each listener and a server holds a sync per node (thousands).
 */
const waiting = new WeakMap<object, { byNode: Map<string, Set<() => void>>; unwatch: () => void }>();

function waitersOf(deps: Deps): Map<string, Set<() => void>> {
  let entry = waiting.get(deps.store);
  if (!entry) {
    const byNode = new Map<string, Set<() => void>>();
    const unwatch = deps.store.watch((ev) => {
      if (ev.object.kind !== NODE_DESIRED_KIND) return;
      for (const wake of [...(byNode.get(ev.object.metadata.name) ?? [])]) wake();
    });
    entry = { byNode, unwatch };
    waiting.set(deps.store, entry);
  }
  return entry.byNode;
}

/** Resolves when the node's record is written (or after `ms`, or when `signal` aborts). */
export function waitForDesired(deps: Deps, nodeName: string, ms: number, signal?: AbortSignal): Promise<void> {
  const byNode = waitersOf(deps);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      const set = byNode.get(nodeName);
      set?.delete(done);
      if (set?.size === 0) byNode.delete(nodeName);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const set = byNode.get(nodeName) ?? new Set<() => void>();
    set.add(done);
    byNode.set(nodeName, set);
    if (signal?.aborted) done();
    signal?.addEventListener('abort', done, { once: true });
  });
}
