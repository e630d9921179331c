/**
 * The PersistentVolumes a node holds or mounts, for the sync's `volumes`: every PV pinned to the
 * node (so the agent keeps those directories and removes the provisioned ones no longer listed),
 * and the PVs its pods' claims are bound to, each with the claim it serves. A claim resolves only to
 * a PV whose claimRef carries the claim's uid, so a Retained PV of an older claim of the same name
 * is never mounted for a new one. Read with the pods, consistent (the PV write bumped the node).
 */

import {
  isProvisionedLocally,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type Pod,
  volumeNode,
} from '../../../schemas';
import type { NodeVolume } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import type { Obj } from '../../store/types';

export async function nodeVolumes(deps: Deps, nodeName: string, pods: Obj[]): Promise<NodeVolume[]> {
  const wanted = new Set<string>();
  for (const p of pods as Pod[])
    for (const v of p.spec?.volumes ?? [])
      if (v.persistentVolumeClaim) wanted.add(`${p.metadata.namespace}/${v.persistentVolumeClaim.claimName}`);
  const pvs = (await deps.store.list<PersistentVolume>('PersistentVolume')).items;
  const claims = new Map<string, PersistentVolumeClaim>();
  for (const key of wanted) {
    const [namespace, name] = key.split('/') as [string, string];
    const c = await deps.store.get<PersistentVolumeClaim>({ kind: 'PersistentVolumeClaim', namespace, name });
    if (c) claims.set(c.metadata.uid as string, c);
  }
  const out: NodeVolume[] = [];
  for (const pv of pvs) {
    const claim = pv.spec.claimRef?.uid ? claims.get(pv.spec.claimRef.uid) : undefined;
    if (volumeNode(pv) !== nodeName && !claim) continue;
    const v: NodeVolume = { name: pv.metadata.name, provisioned: isProvisionedLocally(pv) };
    if (claim) v.claim = `${claim.metadata.namespace}/${claim.metadata.name}`;
    const path = pv.spec.hostPath?.path ?? pv.spec.local?.path;
    if (!v.provisioned && path) {
      v.path = path;
      v.create = pv.spec.hostPath !== undefined;
    }
    out.push(v);
  }
  return out;
}
