/**
 * Garbage collector: cascading deletion through ownerReferences. An object whose controller owner
 * no longer exists (by uid) is deleted — background propagation, the Kubernetes default (the only
 * one ferry offers). Owners and dependents come from the round's snapshot.
 * https://kubernetes.io/docs/concepts/architecture/garbage-collection/
 */

import { isoTime } from '../../schemas/time';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { deletePod } from '../pod-deletion';
import type { Obj } from '../store/types';
import { ClusterSnapshot } from './snapshot';

/** Kinds that can own others, and kinds that can be owned. */
const OWNER_KINDS = ['Deployment', 'ReplicaSet', 'Job', 'CronJob', 'StatefulSet', 'Pod'];
/** A StatefulSet owns its pods and revisions, and claims by its retention policy (a set or a pod owns them). */
const DEPENDENT_KINDS = ['ReplicaSet', 'Job', 'Pod', 'ControllerRevision', 'PersistentVolumeClaim'];

export async function collectGarbage(
  deps: Deps,
  snapshot: ClusterSnapshot = new ClusterSnapshot(deps.store),
): Promise<void> {
  const owners = new Set<string>();
  for (const kind of OWNER_KINDS) for (const o of await snapshot.list(kind)) owners.add(o.metadata.uid as string);
  for (const kind of DEPENDENT_KINDS) {
    for (const obj of await snapshot.list(kind)) {
      const refs = obj.metadata.ownerReferences ?? [];
      if (refs.length === 0 || refs.some((r) => owners.has(r.uid) || !OWNER_KINDS.includes(r.kind))) continue;
      await remove(deps, obj);
    }
  }
}

async function remove(deps: Deps, obj: Obj): Promise<void> {
  const ref = { kind: obj.kind, namespace: obj.metadata.namespace as string, name: obj.metadata.name };
  try {
    if (obj.kind === 'Pod') await deletePod(deps, ref);
    // A protected claim is marked; the volume controller removes it once no pod uses it.
    else if ((obj.metadata.finalizers?.length ?? 0) > 0) {
      if (!obj.metadata.deletionTimestamp)
        await deps.store.update({ ...obj, metadata: { ...obj.metadata, deletionTimestamp: isoTime(deps.clock()) } });
    } else await deps.store.delete(ref, { resourceVersion: obj.metadata.resourceVersion as string });
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  }
}
