/**
 * When a move of a node's NodeDesired record answers the sync it holds (desired.ts waits; this
 * decides). Coalesced per node, so a busy cluster is not answered write by write:
 *
 * - A move of its pods, config or logs (work to start) answers at once, unless the node was last
 *   answered with changes less than WORK_WAKE_INTERVAL_MS ago: then at that interval's end, with
 *   everything that moved meanwhile. A node whose desired state moves ten times in a second is
 *   answered once or twice, not ten times.
 * - A move of the routes (or the ingress table) alone is every node's at once, whenever an
 *   endpoint anywhere changes, and its answer is the changed Services' whole routes (at 1,000
 *   nodes with 100 Services of 100 endpoints, up to a few hundred KB to every node). It is answered
 *   at most every `routesIntervalMs(nodes)`: the held nodes over ROUTE_ANSWERS_PER_SECOND (4 ms
 *   for 2 nodes, so a small cluster's Services reach every node at once, as its tests and users
 *   expect; 2 s at 1,000) and at most the longest hold, so a route change reaches every node within one hold plus the
 *   spread. Each node waits its own offset within the interval (by its name), so the answers to a
 *   route change are spread out instead of one burst that holds the event loop for all of them.
 *
 * Nothing is lost by waiting: the answer reads the record after the wait and sends every section
 * that moved since the versions the agent holds.
 */
import type { SyncVersions } from '../../../schemas/agent-protocol';
import type { NodeDesired } from '../../node-desired';
import { MAX_SYNC_WAIT_SECONDS } from './modes';

export const WORK_WAKE_INTERVAL_MS = 1_000;
/** The route answers a second the server spends on a route change, fanned out over all nodes. */
export const ROUTE_ANSWERS_PER_SECOND = 500;
const MAX_ROUTES_INTERVAL_MS = MAX_SYNC_WAIT_SECONDS * 1000;

/** How long a node waits between two answers for route moves alone, with `nodes` syncs held. */
export function routesIntervalMs(nodes: number): number {
  const spread = (nodes / ROUTE_ANSWERS_PER_SECOND) * 1000;
  return Math.round(Math.min(MAX_ROUTES_INTERVAL_MS, spread));
}

/** The node's own offset within `intervalMs`: the same node always lands on the same slot. */
export function nodeOffsetMs(nodeName: string, intervalMs: number): number {
  let h = 2166136261;
  for (let i = 0; i < nodeName.length; i++) h = Math.imul(h ^ nodeName.charCodeAt(i), 16777619);
  return (h >>> 0) % Math.max(1, intervalMs);
}

/**
 * When a move to `record` should answer the sync holding `held` (server clock, ms). `answeredAt`:
 * when the node was last answered with changes; `nodes`: how many nodes hold a sync now. Without
 * `held` every move is work.
 */
export function wakeAt(
  record: NodeDesired,
  held: Partial<SyncVersions> | undefined,
  nodeName: string,
  now: number,
  answeredAt: number | undefined,
  nodes: number,
): number {
  const last = answeredAt ?? Number.NEGATIVE_INFINITY;
  const { pods, config, logs } = record.spec;
  const work = !held || pods !== held.pods || config !== held.config || logs !== held.logs;
  if (work) return Math.max(now, last + WORK_WAKE_INTERVAL_MS);
  const interval = routesIntervalMs(nodes);
  return Math.max(now + nodeOffsetMs(nodeName, interval), last + interval);
}
