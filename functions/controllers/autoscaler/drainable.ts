/**
 * Which pods keep their node from being scaled down (cluster-autoscaler's drainability rules,
 * simulator/drainability/rules, with its defaults: --skip-nodes-with-local-storage=true):
 * - a pod annotated `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`;
 * - a pod no controller runs (nothing would make it again elsewhere);
 * - a pod with local storage: an emptyDir or hostPath volume, or a claim bound to a node-local
 *   PersistentVolume (local-path's hostPath PVs pinned to the node), whose data dies with the node;
 * - a pod whose PodDisruptionBudget does not allow as many disruptions as the node would cause.
 * `safe-to-evict: "true"` lifts the controller and local-storage rules, never the budget.
 * DaemonSet pods and pods already terminating are not moved: they go with the node.
 */
import type { PersistentVolume, PersistentVolumeClaim, Pod, PodDisruptionBudget } from '../../../schemas';
import { compileSelectorObject } from '../../store/selector';
import { SAFE_TO_EVICT } from './settings';

export interface Volumes {
  claims: Map<string, PersistentVolumeClaim>;
  pvs: Map<string, PersistentVolume>;
}

/** The pods that must move for the node to go (not DaemonSet pods, not finished, not terminating). */
export function podsToMove(pods: readonly Pod[]): Pod[] {
  return pods.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed' &&
      p.metadata.ownerReferences?.find((o) => o.controller)?.kind !== 'DaemonSet',
  );
}

/** Why this pod keeps its node, or undefined. Budgets are checked over the node's pods (budgetBlocker). */
export function podBlocker(pod: Pod, volumes: Volumes): string | undefined {
  const who = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
  const safe = pod.metadata.annotations?.[SAFE_TO_EVICT];
  if (safe === 'false') return `${who} is annotated ${SAFE_TO_EVICT}: "false"`;
  if (safe === 'true') return undefined;
  if (!pod.metadata.ownerReferences?.some((o) => o.controller)) return `${who} is not run by a controller`;
  for (const v of pod.spec.volumes ?? []) {
    if (v.emptyDir) return `${who} has local storage (emptyDir volume "${v.name}")`;
    if (v.hostPath) return `${who} has local storage (hostPath volume "${v.name}")`;
    const claim = v.persistentVolumeClaim
      ? volumes.claims.get(`${pod.metadata.namespace}/${v.persistentVolumeClaim.claimName}`)
      : undefined;
    const pv = claim?.spec?.volumeName ? volumes.pvs.get(claim.spec.volumeName) : undefined;
    if (pv && isNodeLocal(pv))
      return `${who} has local storage (claim "${claim?.metadata.name}" on node-local volume ${pv.metadata.name})`;
  }
  return undefined;
}

/** A PV whose data lives on one node: hostPath or local, or pinned by nodeAffinity. */
function isNodeLocal(pv: PersistentVolume): boolean {
  const s = pv.spec as Record<string, unknown> | undefined;
  return !!s && (s.hostPath !== undefined || s.local !== undefined || s.nodeAffinity !== undefined);
}

/** The first budget that allows fewer disruptions than the node's pods it selects, as a reason. */
export function budgetBlocker(pods: readonly Pod[], budgets: readonly PodDisruptionBudget[]): string | undefined {
  for (const b of budgets) {
    if (!b.spec?.selector) continue;
    const matches = compileSelectorObject(b.spec.selector);
    const hit = pods.filter((p) => p.metadata.namespace === b.metadata.namespace && matches(p.metadata.labels ?? {}));
    if (hit.length === 0) continue;
    const allowed = b.status?.disruptionsAllowed ?? 0;
    if (allowed < hit.length)
      return `pod ${hit[0]?.metadata.namespace}/${hit[0]?.metadata.name}: PodDisruptionBudget ${b.metadata.name} allows ${allowed} disruption(s), the node would cause ${hit.length}`;
  }
  return undefined;
}
