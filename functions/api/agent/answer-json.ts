/**
 * A sync answer as JSON text, with each routes diff serialized once however many nodes it is sent
 * to. A route change reaches every node with the same diff object (routes.ts keeps one per index
 * sequence the agents hold), and at 1,000 nodes with 100 Services of 100 endpoints that diff is up
 * to a few hundred KB: stringifying it per answer was the largest single cost of a busy server's
 * syncs (a fifth of their CPU, and most of its garbage). The rest of the answer is the node's own.
 */
import type { RoutesDiff, SyncResponse } from '../../../schemas/agent-protocol';

const serialized = new WeakMap<RoutesDiff, string>();

export function syncResponseJson(res: SyncResponse): string {
  const { routes, ...rest } = res;
  if (!routes) return JSON.stringify(res);
  let json = serialized.get(routes);
  if (json === undefined) {
    json = JSON.stringify(routes);
    serialized.set(routes, json);
  }
  // `rest` always has its versions: the text is an object with at least one member to follow.
  return `${JSON.stringify(rest).slice(0, -1)},"routes":${json}}`;
}
