/**
 * Garbage collector: cascading deletion through ownerReferences, from the round's snapshot.
 * - Background (the default): an object whose controller owner no longer exists (by uid) is
 *   deleted.
 * - Foreground (`owner-deletion.ts`): an owner marked with the `foregroundDeletion` finalizer has
 *   its dependents deleted — owners among them marked the same way, so theirs go first; pods
 *   gracefully — and is removed itself only once none is left, terminating pods included, as
 *   Kubernetes' garbage collector keeps it until then.
 * https://kubernetes.io/docs/concepts/architecture/garbage-collection/
 */
import { isoTime } from '../../schemas/time';
import { releaseQuota } from '../admission';
import type { Deps } from '../deps';
import { isLostRace } from '../errors';
import {
  DEPENDENT_KINDS,
  FOREGROUND_FINALIZER,
  isDeletingInForeground,
  markForegroundDeletion,
  OWNER_KINDS,
} from '../owner-deletion';
import { deletePod } from '../pod-deletion';
import type { Obj } from '../store/types';
import { ClusterSnapshot } from './snapshot';

export async function collectGarbage(
  deps: Deps,
  snapshot: ClusterSnapshot = new ClusterSnapshot(deps.store),
): Promise<void> {
  const owners = new Map<string, Obj>();
  for (const kind of OWNER_KINDS) for (const o of await snapshot.list(kind)) owners.set(o.metadata.uid as string, o);
  const dependents = new Map<string, Obj[]>();
  for (const kind of DEPENDENT_KINDS) {
    for (const obj of await snapshot.list(kind)) {
      const refs = obj.metadata.ownerReferences ?? [];
      for (const r of refs) {
        const list = dependents.get(r.uid);
        if (list) list.push(obj);
        else dependents.set(r.uid, [obj]);
      }
      if (refs.length === 0 || refs.some((r) => owners.has(r.uid) || !OWNER_KINDS.includes(r.kind))) continue;
      await remove(deps, obj);
    }
  }
  for (const owner of owners.values()) {
    // An owner whose finalizers were all removed (by a client) goes too, as in Kubernetes. Not a
    // pod: its deletionTimestamp is its graceful termination, which pod-deletion.ts finishes.
    const released =
      owner.kind !== 'Pod' && owner.metadata.deletionTimestamp !== undefined && !owner.metadata.finalizers?.length;
    if (!released && !isDeletingInForeground(owner)) continue;
    const waiting = dependents.get(owner.metadata.uid as string) ?? [];
    if (waiting.length === 0) await removeOwner(deps, owner);
    else for (const dep of waiting) await deleteDependent(deps, dep);
  }
}

/** A dependent of an owner deleted in the foreground: its own dependents go first too. */
async function deleteDependent(deps: Deps, obj: Obj): Promise<void> {
  if (obj.metadata.deletionTimestamp) return;
  const ref = refOf(obj);
  if (obj.kind === 'Pod') await deletePod(deps, ref);
  // Kinds that own nothing (ControllerRevisions, claims) just go; a protected claim is marked.
  else if (!OWNER_KINDS.includes(obj.kind)) await remove(deps, obj);
  else await markForegroundDeletion(deps, ref);
}

/** The owner's dependents are gone: drop the finalizer and the owner with it. */
async function removeOwner(deps: Deps, owner: Obj): Promise<void> {
  const ref = refOf(owner);
  const finalizers = (owner.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND_FINALIZER);
  try {
    // Other finalizers are someone else's to remove: the owner stays until they do.
    if (finalizers.length > 0) {
      await deps.store.update({ ...owner, metadata: { ...owner.metadata, finalizers } });
      return;
    }
    const gone = await deps.store.delete(ref, { resourceVersion: owner.metadata.resourceVersion as string });
    await releaseQuota(deps, gone);
  } catch (err) {
    // A write meanwhile (or a dependent created since the snapshot): the next round looks again.
    if (!isLostRace(err)) throw err;
  }
}

async function remove(deps: Deps, obj: Obj): Promise<void> {
  const ref = refOf(obj);
  try {
    if (obj.kind === 'Pod') await deletePod(deps, ref);
    // A protected claim is marked; the volume controller removes it once no pod uses it.
    else if ((obj.metadata.finalizers?.length ?? 0) > 0) {
      if (!obj.metadata.deletionTimestamp)
        await deps.store.update({ ...obj, metadata: { ...obj.metadata, deletionTimestamp: isoTime(deps.clock()) } });
    } else await deps.store.delete(ref, { resourceVersion: obj.metadata.resourceVersion as string });
  } catch (err) {
    if (!isLostRace(err)) throw err;
  }
}

function refOf(obj: Obj) {
  return { kind: obj.kind, namespace: obj.metadata.namespace as string, name: obj.metadata.name };
}
