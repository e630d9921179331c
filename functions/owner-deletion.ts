/**
 * Foreground cascading deletion, shared by the API (DELETE with propagationPolicy Foreground) and
 * the garbage collector, as Kubernetes does it: the owner is kept, with `deletionTimestamp` and the
 * `foregroundDeletion` finalizer, while the collector deletes its dependents (their own dependents
 * first, the same way; pods gracefully); only when no dependent is left — terminating pods
 * included — does the collector remove the finalizer and the owner.
 * https://kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-deletion
 */
import { isoTime } from '../schemas/time';
import type { Deps } from './deps';
import { ignoreNotFound, retryOnConflict } from './store/retry';
import type { Obj, ObjectRef } from './store/types';

export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** Kinds that own others (their dependents named by ownerReferences), and kinds that are owned. */
export const OWNER_KINDS = ['Deployment', 'ReplicaSet', 'Job', 'CronJob', 'DaemonSet', 'StatefulSet', 'Pod'];
/** A StatefulSet owns its pods and revisions, and claims by its retention policy (a set or a pod owns them). */
export const DEPENDENT_KINDS = ['ReplicaSet', 'Job', 'Pod', 'ControllerRevision', 'PersistentVolumeClaim'];

/** Whether `obj` waits for its dependents to be gone before it goes. */
export function isDeletingInForeground(obj: Obj): boolean {
  return obj.metadata.deletionTimestamp !== undefined && (obj.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER);
}

/**
 * Marks the owner at `ref` for foreground deletion (idempotent: an owner already being deleted is
 * left as it is). Returns the owner as stored, or undefined when it is gone.
 */
export async function markForegroundDeletion(deps: Deps, ref: ObjectRef): Promise<Obj | undefined> {
  return retryOnConflict(async (current) => {
    const obj = current ?? (await deps.store.get(ref));
    if (!obj) return undefined;
    if (obj.metadata.deletionTimestamp) return obj;
    const finalizers = [...(obj.metadata.finalizers ?? []), FOREGROUND_FINALIZER];
    return ignoreNotFound(
      deps.store.update({
        ...obj,
        metadata: { ...obj.metadata, deletionTimestamp: isoTime(deps.clock()), finalizers },
      }),
    );
  });
}
