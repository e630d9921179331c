/**
 * Garbage collector: cascading deletion through ownerReferences. An object whose controller owner
 * no longer exists (by uid) is deleted — background propagation, the Kubernetes default. Orphan
 * propagation removes the owner reference from the dependents before the owner goes.
 * https://kubernetes.io/docs/concepts/architecture/garbage-collection/
 */
import type { Deps } from '../deps';
import { isConflict, isNotFound, NotFoundError } from '../errors';
import { deletePod } from '../pod-deletion';
import type { Obj, ObjectRef } from '../store/types';

/** Kinds that can own others, and kinds that can be owned. */
const OWNER_KINDS = ['Deployment', 'ReplicaSet', 'Job', 'CronJob'];
const DEPENDENT_KINDS = ['ReplicaSet', 'Job', 'Pod'];

export type PropagationPolicy = 'Background' | 'Orphan' | 'Foreground';

export async function collectGarbage(deps: Deps): Promise<void> {
  const owners = new Set<string>();
  for (const kind of OWNER_KINDS)
    for (const o of (await deps.store.list(kind)).items) owners.add(o.metadata.uid as string);
  for (const kind of DEPENDENT_KINDS) {
    for (const obj of (await deps.store.list(kind)).items) {
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
    else await deps.store.delete(ref, { resourceVersion: obj.metadata.resourceVersion as string });
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  }
}

/** Deletes an object; with Orphan its dependents lose their owner reference and stay. */
export async function deleteWithPropagation(
  deps: Deps,
  ref: ObjectRef,
  policy: PropagationPolicy = 'Background',
): Promise<Obj> {
  const owner = await deps.store.get(ref);
  if (!owner) throw new NotFoundError(ref.kind, ref.name);
  if (policy === 'Orphan') {
    for (const kind of DEPENDENT_KINDS) {
      const deps2 = (await deps.store.list(kind, ref.namespace ? { namespace: ref.namespace } : {})).items;
      for (const d of deps2) {
        const refs = d.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === owner.metadata.uid)) continue;
        const kept = refs.filter((r) => r.uid !== owner.metadata.uid);
        const metadata = { ...d.metadata };
        if (kept.length) metadata.ownerReferences = kept;
        else delete metadata.ownerReferences;
        await deps.store.update({ ...d, metadata });
      }
    }
  }
  return deps.store.delete(ref);
}
