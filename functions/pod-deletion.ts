/**
 * Graceful pod deletion, shared by the API (DELETE on a pod) and the controllers (scale-down,
 * rolling update, drain), as in Kubernetes: a pod that runs on a node is first marked with
 * `metadata.deletionTimestamp`; the node's agent stops its containers (SIGTERM, the grace period,
 * then SIGKILL) and only then reports it gone, and the pod object is removed. A pod that never
 * reached a node is removed at once.
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
 */
import type { Deps } from './deps';
import { isConflict, isNotFound } from './errors';
import type { Obj, ObjectRef } from './store/types';

export interface PodDeletionOptions {
  /** Seconds the agent waits between SIGTERM and SIGKILL; default the pod's terminationGracePeriodSeconds. */
  gracePeriodSeconds?: number;
  /** Remove the object now without waiting for the node (a node that is gone cannot confirm). */
  force?: boolean;
}

interface PodLike extends Obj {
  spec?: { nodeName?: string; terminationGracePeriodSeconds?: number };
}

/** Starts (or, for unbound pods and `force`, completes) the deletion of a pod. Returns the pod as left. */
export async function deletePod(
  deps: Deps,
  ref: ObjectRef,
  options: PodDeletionOptions = {},
): Promise<Obj | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const pod = await deps.store.get<PodLike>(ref);
    if (!pod) return undefined;
    const grace = options.gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (options.force || !pod.spec?.nodeName || grace === 0) {
      try {
        return await deps.store.delete(ref, { resourceVersion: pod.metadata.resourceVersion as string });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (isConflict(err)) continue;
        throw err;
      }
    }
    if (pod.metadata.deletionTimestamp) return pod;
    pod.metadata.deletionTimestamp = new Date(deps.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    pod.metadata.deletionGracePeriodSeconds = grace;
    try {
      return await deps.store.update(pod);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isConflict(err)) continue;
      throw err;
    }
  }
  throw new Error(`deleting pod ${ref.namespace}/${ref.name}: gave up after repeated write conflicts`);
}

export function isTerminating(obj: Obj): boolean {
  return obj.metadata.deletionTimestamp !== undefined;
}
