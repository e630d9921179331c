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

/** Resolves when the node's record is written (or after `ms`, or when `signal` aborts). */
export function waitForDesired(deps: Deps, nodeName: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unwatch();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unwatch = deps.store.watch((ev) => {
      if (ev.object.kind === NODE_DESIRED_KIND && ev.object.metadata.name === nodeName) done();
    });
    if (signal?.aborted) done();
    signal?.addEventListener('abort', done, { once: true });
  });
}
