/**
 * Graceful pod deletion, shared by the API (DELETE on a pod) and the controllers (scale-down,
 * rolling update, drain), as in Kubernetes: a pod that runs on a node is first marked with
 * `metadata.deletionTimestamp`; the node's agent stops its containers (SIGTERM, the grace period,
 * then SIGKILL) and only then reports it gone, and the pod object is removed. A pod that never
 * reached a node is removed at once.
 * https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
 */
import { isoTime } from '../schemas/time';
import type { Deps } from './deps';
import { ConflictError, isConflict } from './errors';
import { ignoreNotFound, retryOnConflict } from './store/retry';
import type { Obj, ObjectRef } from './store/types';

export interface PodDeletionOptions {
  /** Seconds the agent waits between SIGTERM and SIGKILL; default the pod's terminationGracePeriodSeconds. */
  gracePeriodSeconds?: number;
  /** Remove the object now without waiting for the node (a node that is gone cannot confirm). */
  force?: boolean;
  /** Delete only the pod as it was at this resourceVersion (a 409 otherwise, never retried). */
  resourceVersion?: string;
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
  try {
    return await retryOnConflict(async (current) => {
      const pod = (current as PodLike | undefined) ?? (await deps.store.get<PodLike>(ref));
      if (!pod) return undefined;
      if (options.resourceVersion !== undefined && pod.metadata.resourceVersion !== options.resourceVersion)
        throw new PreconditionFailedError(pod);
      const grace = options.gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      if (options.force || !pod.spec?.nodeName || grace === 0) {
        return await ignoreNotFound(
          deps.store.delete(ref, { resourceVersion: pod.metadata.resourceVersion as string }),
        );
      }
      if (pod.metadata.deletionTimestamp) return pod;
      const marked = {
        ...pod,
        metadata: { ...pod.metadata, deletionTimestamp: isoTime(deps.clock()), deletionGracePeriodSeconds: grace },
      };
      return await ignoreNotFound(deps.store.update(marked));
    });
  } catch (err) {
    if (!isConflict(err) || err instanceof PreconditionFailedError) throw err;
    throw new Error(`deleting pod ${ref.namespace}/${ref.name}: gave up after repeated write conflicts`);
  }
}

/** The pod changed since the caller looked: a 409 the caller sees, as Kubernetes' preconditions give. */
class PreconditionFailedError extends ConflictError {
  constructor(pod: Obj) {
    super('Pod', pod.metadata.name, pod);
  }
}

export function isTerminating(obj: Obj): boolean {
  return obj.metadata.deletionTimestamp !== undefined;
}
