/**
 * Which writes trigger a controllers pass: the one list, used by the local watch (manager.ts), the
 * Lambda stream handler (runtime/lambda.ts) and the stream filter in serverless.yml (a packaging
 * test checks that the filter skips exactly IGNORED_KINDS plus the store's own partitions).
 *
 * Never a trigger: Events, bookkeeping records, heartbeats (Leases: a missed heartbeat is a time
 * event, which the scheduled lease check finds, not a write), and the controllers' own marker.
 * A Node write triggers only when it changes something a controller acts on (its fingerprint):
 * labels, spec (unschedulable, taints), allocatable, addresses, the status of its conditions,
 * deletion; an agent's periodic status write that only moves heartbeat times does not.
 */
import type { Node } from '../../schemas';
import type { ChangeType, Obj } from '../store/types';

export const CONTROLLER_MARKER_KIND = 'ControllerMarker';

export const IGNORED_KINDS = new Set([
  'Event',
  'NodeAllocation',
  'Lease',
  'NodePortClaim',
  'ClusterIPClaim',
  'LoadBalancerRecord',
  'LogRequest',
  // The agent protocol's bookkeeping (functions/node-desired.ts, functions/service-routes.ts).
  'NodeDesired',
  'ServiceRoute',
  'ServiceRouteIndex',
  // The built-in ingress' table (functions/ingress-table.ts): written only by the ingress controller.
  'IngressTable',
  // Nodes' resource usage (functions/node-usage.ts): the HPA controller reads it at its own pace.
  'NodeUsage',
  CONTROLLER_MARKER_KIND,
]);

/** What of a Node a controller acts on; two writes with the same fingerprint need no pass. */
export function nodeFingerprint(node: Node): string {
  return JSON.stringify([
    node.metadata.labels ?? {},
    node.metadata.deletionTimestamp ?? null,
    node.spec ?? {},
    node.status?.allocatable ?? {},
    node.status?.addresses ?? [],
    (node.status?.conditions ?? []).map((c) => [c.type, c.status]),
  ]);
}

/**
 * True when a write (`change`, leaving `next`) needs a pass. `previous` is the fingerprint of the
 * Node as last seen, when known. Without it (a first sighting, a stream without images) a Node
 * write counts: a missed trigger costs correctness, an extra one only a pass.
 */
export function triggersPass(change: ChangeType, next: Obj, previous?: string): boolean {
  if (IGNORED_KINDS.has(next.kind)) return false;
  // An HPA's status write (each sync's metrics) is the HPA controller's own, paced by time:
  // only its spec, labels or a condition's status moving is a trigger (the same fingerprint).
  if (
    (next.kind === 'Node' || next.kind === 'HorizontalPodAutoscaler') &&
    change === 'MODIFIED' &&
    previous !== undefined
  )
    return nodeFingerprint(next as Node) !== previous;
  return true;
}
