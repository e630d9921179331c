/**
 * The volume controller: PVC protection, claim binding and provisioning (volume-claims.ts), and
 * each PersistentVolume's phase and reclaim, in that order over the round's snapshot.
 *
 * - Protection (Kubernetes' pvc-protection and pv-protection controllers): every claim carries
 *   `kubernetes.io/pvc-protection`; a claim being deleted loses it, and goes, only once no pod that
 *   has not finished uses it. A PV being deleted goes once it is not Bound.
 * - Phase: Available (no claim), Bound (its claim exists with the claimRef's uid), Released (the
 *   claim is gone). Reclaim of a Released PV: Delete removes the PV object (for a provisioned one
 *   the node's agent then removes the directory: it keeps only the volumes its sync lists), Retain
 *   keeps the PV and the data, and it is never bound again, as in Kubernetes.
 */
import {
  type PersistentVolume,
  type PersistentVolumeClaim,
  type Pod,
  PV_PROTECTION_FINALIZER,
  PVC_PROTECTION_FINALIZER,
  type StorageClass,
} from '../../schemas';
import { isoTime } from '../../schemas/time';
import { recordEvent } from '../events';
import { claimNames } from '../scheduler/volumes';
import type { Obj } from '../store/types';
import { type PassContext, reconcileEach } from './controller';
import { reconcileClaim } from './volume-claims';

const SOURCE = { component: 'persistentvolume-controller' };

export async function reconcileVolumes(ctx: PassContext): Promise<void> {
  const claims = await ctx.snapshot.list<PersistentVolumeClaim>('PersistentVolumeClaim');
  const pvs = await ctx.snapshot.list<PersistentVolume>('PersistentVolume');
  if (claims.length === 0 && pvs.length === 0) return;
  const classes = await ctx.snapshot.list<StorageClass>('StorageClass');
  const inUse = new Set<string>();
  for (const p of await ctx.snapshot.list<Pod>('Pod')) {
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    for (const n of claimNames(p)) inUse.add(`${p.metadata.namespace}/${n}`);
  }
  await reconcileEach(ctx, SOURCE.component, [...claims], async (claim) => {
    const key = `${claim.metadata.namespace}/${claim.metadata.name}`;
    if (claim.metadata.deletionTimestamp) {
      if (!inUse.has(key)) await finish(ctx, claim, PVC_PROTECTION_FINALIZER);
      return;
    }
    if (!claim.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) {
      await addFinalizer(ctx, claim, PVC_PROTECTION_FINALIZER);
      return; // the snapshot holds the new version: the next round binds it
    }
    await reconcileClaim(ctx, claim, classes);
  });
  const byUid = new Map(
    (await ctx.snapshot.list<PersistentVolumeClaim>('PersistentVolumeClaim')).map((c) => [c.metadata.uid, c]),
  );
  await reconcileEach(
    ctx,
    SOURCE.component,
    [...(await ctx.snapshot.list<PersistentVolume>('PersistentVolume'))],
    async (pv) => {
      const ref = pv.spec.claimRef;
      const claim = ref?.uid ? byUid.get(ref.uid) : undefined;
      const phase = !ref?.uid ? 'Available' : claim ? 'Bound' : 'Released';
      if (pv.metadata.deletionTimestamp) {
        if (phase !== 'Bound') await finish(ctx, pv, PV_PROTECTION_FINALIZER);
        return;
      }
      if (phase === 'Released' && pv.spec.persistentVolumeReclaimPolicy === 'Delete') {
        await finish(ctx, pv, PV_PROTECTION_FINALIZER);
        await recordEvent(
          ctx.deps,
          pv,
          'Normal',
          'VolumeDelete',
          `Deleted volume ${pv.metadata.name}: its claim ${ref?.namespace}/${ref?.name} is gone and its reclaim policy is Delete`,
          SOURCE,
        );
        return;
      }
      // A Released PV stays Released (Retain: an administrator decides about its data).
      const next = pv.status?.phase === 'Released' && phase !== 'Bound' ? 'Released' : phase;
      if (pv.status?.phase === next) return;
      await ctx.deps.store.update({
        ...pv,
        status: { ...pv.status, phase: next, lastPhaseTransitionTime: isoTime(ctx.deps.clock()) },
      });
    },
  );
}

async function addFinalizer(ctx: PassContext, obj: Obj, finalizer: string): Promise<void> {
  const finalizers = [...(obj.metadata.finalizers ?? []), finalizer];
  await ctx.deps.store.update({ ...obj, metadata: { ...obj.metadata, finalizers } });
}

/** Lifts this controller's finalizer, and removes the object when none is left. */
async function finish(ctx: PassContext, obj: Obj, finalizer: string): Promise<void> {
  const ref = {
    kind: obj.kind,
    name: obj.metadata.name,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
  };
  const rest = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
  if (rest.length > 0) {
    if (rest.length !== obj.metadata.finalizers?.length)
      await ctx.deps.store.update({ ...obj, metadata: { ...obj.metadata, finalizers: rest } });
    return;
  }
  await ctx.deps.store.delete(ref, { resourceVersion: obj.metadata.resourceVersion as string });
}
