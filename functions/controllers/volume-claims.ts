/**
 * Claims to volumes, as Kubernetes' PV controller and k3s' local-path provisioner do it between
 * them: a claim with no class gets the default one; a claim naming a PV, or an Immediate claim,
 * binds to a matching Available PV; a WaitForFirstConsumer claim waits for the scheduler, which
 * promises it a PV (claimRef) or names the node (`volume.kubernetes.io/selected-node`), where the
 * local provisioner then makes a PV: a directory on that node, of the requested size and modes,
 * pinned to the node by nodeAffinity. A claim whose class has another provisioner, or that asks for
 * a mode a node directory cannot give (ReadOnlyMany, ReadWriteMany), stays Pending with an Event.
 */
import {
  BOUND_BY_CONTROLLER_ANNOTATION,
  HOSTNAME_LABEL,
  LOCAL_ACCESS_MODES,
  LOCAL_PROVISIONER,
  type PersistentVolume,
  type PersistentVolumeClaim,
  PROVISIONED_BY_ANNOTATION,
  PV_PROTECTION_FINALIZER,
  SELECTED_NODE_ANNOTATION,
  type StorageClass,
} from '../../schemas';
import { recordEvent } from '../events';
import { bestVolume, defaultClass, volumeFits } from '../scheduler/volume-match';
import type { PassContext } from './controller';
import { sameJson } from './util';

const SOURCE = { component: 'persistentvolume-controller' };
/** Where the agent keeps a provisioned volume with its default state dir (agent/pods/claims.ts). */
export const LOCAL_VOLUME_ROOT = '/var/lib/ferry-agent/volumes';

export async function reconcileClaim(
  ctx: PassContext,
  claim: PersistentVolumeClaim,
  classes: StorageClass[],
): Promise<void> {
  const deps = ctx.deps;
  if (claim.metadata.deletionTimestamp) return;
  // Kubernetes 1.28+: a claim made before a default class existed gets it later (retroactive default).
  if (claim.spec.storageClassName === undefined && !claim.spec.volumeName) {
    const cls = defaultClass(classes);
    if (cls) {
      await deps.store.update({ ...claim, spec: { ...claim.spec, storageClassName: cls.metadata.name } });
      return;
    }
  }
  const pvs = await ctx.snapshot.list<PersistentVolume>('PersistentVolume');
  if (claim.spec.volumeName) {
    const pv = pvs.find((p) => p.metadata.name === claim.spec.volumeName);
    if (!pv) {
      if (claim.status?.phase === 'Bound') await setClaimStatus(ctx, claim, { phase: 'Lost' });
      return;
    }
    if (!pv.spec.claimRef?.uid) {
      if (!volumeFits(pv, claim)) {
        await warn(
          ctx,
          claim,
          'VolumeMismatch',
          `Cannot bind to requested volume "${pv.metadata.name}": it does not fit the claim (class, size or access modes)`,
        );
        return;
      }
      await bindVolume(ctx, pv, claim);
      return;
    }
    if (pv.spec.claimRef.uid !== claim.metadata.uid) return;
    await setClaimStatus(ctx, claim, {
      phase: 'Bound',
      accessModes: pv.spec.accessModes ?? [],
      capacity: { storage: pv.spec.capacity?.storage ?? '0' },
    });
    return;
  }
  // A PV the scheduler promised to this claim, or one the user pre-bound to it by name.
  const promised = pvs.find(
    (p) =>
      p.spec.claimRef?.uid === claim.metadata.uid ||
      (p.spec.claimRef?.name === claim.metadata.name &&
        p.spec.claimRef?.namespace === claim.metadata.namespace &&
        !p.spec.claimRef.uid),
  );
  if (promised && volumeFits(promised, claim)) {
    await bindClaim(ctx, claim, promised);
    return;
  }
  const cls = classes.find((c) => c.metadata.name === (claim.spec.storageClassName ?? ''));
  if (cls?.volumeBindingMode !== 'WaitForFirstConsumer') {
    const pv = bestVolume(pvs, claim);
    if (pv) await bindVolume(ctx, pv, claim);
    else if (cls?.provisioner === LOCAL_PROVISIONER)
      await warn(
        ctx,
        claim,
        'ProvisioningFailed',
        `${LOCAL_PROVISIONER} provisions on the node that first runs the claim's pod: use volumeBindingMode WaitForFirstConsumer`,
      );
    return;
  }
  const node = claim.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
  if (!node) return; // waiting for the first consumer (kubectl shows WaitForFirstConsumer in the Events)
  if (cls.provisioner !== LOCAL_PROVISIONER) {
    await warn(
      ctx,
      claim,
      'ExternalProvisioning',
      `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator. ferry runs no external provisioners.`,
    );
    return;
  }
  if (!(claim.spec.accessModes ?? []).every((m) => LOCAL_ACCESS_MODES.includes(m))) {
    await warn(
      ctx,
      claim,
      'ProvisioningFailed',
      `${LOCAL_PROVISIONER} provisions ReadWriteOnce and ReadWriteOncePod volumes only (a directory on one node)`,
    );
    return;
  }
  const pv = await provision(ctx, claim, cls, node);
  await bindClaim(ctx, claim, pv);
}

async function provision(
  ctx: PassContext,
  claim: PersistentVolumeClaim,
  cls: StorageClass,
  node: string,
): Promise<PersistentVolume> {
  const name = `pvc-${claim.metadata.uid}`;
  const existing = await ctx.deps.store.get<PersistentVolume>({ kind: 'PersistentVolume', name });
  if (existing) return existing;
  const pv = await ctx.deps.store.create<PersistentVolume>({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name,
      annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PROVISIONER, [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' },
      finalizers: [PV_PROTECTION_FINALIZER],
    },
    spec: {
      capacity: { storage: String(claim.spec.resources?.requests?.storage ?? '0') },
      accessModes: claim.spec.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
      storageClassName: cls.metadata.name,
      volumeMode: 'Filesystem',
      hostPath: { path: `${LOCAL_VOLUME_ROOT}/${name}`, type: 'DirectoryOrCreate' },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [node] }] }],
        },
      },
      claimRef: claimRefOf(claim),
    },
    status: { phase: 'Bound' },
  });
  await recordEvent(
    ctx.deps,
    claim,
    'Normal',
    'ProvisioningSucceeded',
    `Successfully provisioned volume ${name} on node ${node}`,
    SOURCE,
  );
  return pv;
}

function claimRefOf(claim: PersistentVolumeClaim) {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    namespace: claim.metadata.namespace as string,
    name: claim.metadata.name,
    uid: claim.metadata.uid as string,
  };
}

/** The PV side first (its claimRef is the promise), then the claim's. */
async function bindVolume(ctx: PassContext, pv: PersistentVolume, claim: PersistentVolumeClaim): Promise<void> {
  const bound = await ctx.deps.store.update<PersistentVolume>({
    ...pv,
    spec: { ...pv.spec, claimRef: claimRefOf(claim) },
  });
  await bindClaim(ctx, claim, bound);
}

async function bindClaim(ctx: PassContext, claim: PersistentVolumeClaim, pv: PersistentVolume): Promise<void> {
  let current = pv;
  if (!pv.spec.claimRef?.uid)
    current = await ctx.deps.store.update<PersistentVolume>({
      ...pv,
      spec: { ...pv.spec, claimRef: claimRefOf(claim) },
    });
  const annotations = { ...claim.metadata.annotations, [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' };
  await ctx.deps.store.update<PersistentVolumeClaim>({
    ...claim,
    metadata: { ...claim.metadata, annotations },
    spec: { ...claim.spec, volumeName: current.metadata.name },
    status: {
      phase: 'Bound',
      accessModes: current.spec.accessModes ?? [],
      capacity: { storage: current.spec.capacity?.storage ?? '0' },
    },
  });
}

async function setClaimStatus(
  ctx: PassContext,
  claim: PersistentVolumeClaim,
  status: PersistentVolumeClaim['status'],
): Promise<void> {
  if (sameJson(status, claim.status)) return;
  await ctx.deps.store.update({ ...claim, status });
}

async function warn(ctx: PassContext, claim: PersistentVolumeClaim, reason: string, message: string): Promise<void> {
  await recordEvent(ctx.deps, claim, 'Warning', reason, message, SOURCE);
}
