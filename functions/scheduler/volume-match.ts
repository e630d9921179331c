/**
 * Which PersistentVolume may serve which claim, shared by the scheduler's volume filter and the
 * volume controller (Kubernetes' pkg/controller/volume/persistentvolume/index.go findMatchingVolume):
 * the same class, at least the requested size, every requested access mode, the claim's selector,
 * and not claimed by another claim. A PV smaller than the request never binds.
 */
import {
  bytes,
  DEFAULT_STORAGE_CLASS_ANNOTATION,
  LOCAL_ACCESS_MODES,
  LOCAL_PROVISIONER,
  type Node,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from '../../schemas';
import { compileSelectorObject } from '../store/selector';
import { nodeMatchesTerm } from './affinity';

/** The class a claim asks for: its own, '' for "no class" (static volumes without one). */
export function claimClass(claim: PersistentVolumeClaim): string {
  return claim.spec.storageClassName ?? '';
}

export function defaultClass(classes: StorageClass[]): StorageClass | undefined {
  return classes.find((c) => c.metadata.annotations?.[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true');
}

export function requestedBytes(claim: PersistentVolumeClaim): number {
  return bytes(claim.spec.resources?.requests?.storage ?? 0);
}

/** True when `pv` may be bound to `claim` (ignoring where it is). */
export function volumeFits(pv: PersistentVolume, claim: PersistentVolumeClaim): boolean {
  if (pv.metadata.deletionTimestamp) return false;
  const ref = pv.spec.claimRef;
  if (ref?.name && !(ref.namespace === claim.metadata.namespace && ref.name === claim.metadata.name)) return false;
  if (ref?.uid && ref.uid !== claim.metadata.uid) return false;
  if (pv.status?.phase === 'Released' || pv.status?.phase === 'Failed') return false;
  if ((pv.spec.storageClassName ?? '') !== claimClass(claim)) return false;
  if (bytes(pv.spec.capacity?.storage ?? 0) < requestedBytes(claim)) return false;
  const modes = new Set(pv.spec.accessModes ?? []);
  if (!(claim.spec.accessModes ?? []).every((m) => modes.has(m))) return false;
  if (claim.spec.selector && !compileSelectorObject(claim.spec.selector)(pv.metadata.labels)) return false;
  if ((pv.spec.volumeMode ?? 'Filesystem') !== (claim.spec.volumeMode ?? 'Filesystem')) return false;
  return true;
}

/** A PV without node affinity is reachable from every node (a hostPath PV made by hand). */
export function volumeOnNode(pv: PersistentVolume, node: Node): boolean {
  const terms = pv.spec.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms || terms.length === 0) return true;
  return terms.some((t) => nodeMatchesTerm(t, node));
}

/** Whether the local provisioner can make a volume for the claim: one node's directory serves one node. */
export function locallyProvisionable(claim: PersistentVolumeClaim, cls: StorageClass | undefined): boolean {
  return (
    cls?.provisioner === LOCAL_PROVISIONER &&
    (claim.spec.accessModes ?? []).every((m) => LOCAL_ACCESS_MODES.includes(m))
  );
}

/** The smallest fitting PV first, as Kubernetes picks. */
export function bestVolume(
  pvs: PersistentVolume[],
  claim: PersistentVolumeClaim,
  where?: (pv: PersistentVolume) => boolean,
): PersistentVolume | undefined {
  let best: PersistentVolume | undefined;
  for (const pv of pvs) {
    if (!volumeFits(pv, claim) || (where && !where(pv))) continue;
    // A PV already promised to this claim (by uid, or by name as a user pre-binds one) wins.
    if (pv.spec.claimRef?.uid === claim.metadata.uid) return pv;
    if (pv.spec.claimRef?.name) return pv;
    if (!best || bytes(pv.spec.capacity?.storage ?? 0) < bytes(best.spec.capacity?.storage ?? 0)) best = pv;
  }
  return best;
}
