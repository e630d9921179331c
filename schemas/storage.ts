/**
 * v1 PersistentVolumeClaim and PersistentVolume, storage.k8s.io/v1 StorageClass, with the names the
 * built-in node-local provisioner, the scheduler's volume filter, the volume controller and the
 * agent agree on. Fields ferry cannot honour (raw block volumes, data sources, mount options,
 * network volume sources) are in the schema so rules/storage.ts refuses them by name.
 */
import { type Static, Type } from 'typebox';
import { NodeSelectorTermSchema } from './affinity';
import { Bool, Enum, Free, Obj, Opt, ResourceList, Str, StrMap, Time } from './dsl';
import { ConditionSchema, envelope, type Kind, LabelSelectorSchema } from './meta';

/** The provisioner of the default StorageClass: a directory on the node that first runs the claim's pod. */
export const LOCAL_PROVISIONER = 'ferry.dev/local-path';
export const DEFAULT_STORAGE_CLASS = 'local-path';
export const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
/** Kubernetes' annotations: the node the scheduler chose for a WaitForFirstConsumer claim, and who provisioned a PV. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
export const BOUND_BY_CONTROLLER_ANNOTATION = 'pv.kubernetes.io/bind-completed';
export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
/** What a directory on one node can honour: one node (or one pod) at a time. */
export const LOCAL_ACCESS_MODES: readonly string[] = ['ReadWriteOnce', 'ReadWriteOncePod'];
const AccessModes = () => Type.Array(Enum(ACCESS_MODES));

const VolumeResources = Obj({ requests: Opt(ResourceList()), limits: Opt(ResourceList()) });
const TypedRef = Obj({ apiGroup: Opt(Str()), kind: Str(), name: Str(), namespace: Opt(Str()) });

export const PersistentVolumeClaimSpecSchema = Obj({
  accessModes: Opt(AccessModes()),
  selector: Opt(LabelSelectorSchema),
  resources: Opt(VolumeResources),
  volumeName: Opt(Str()),
  storageClassName: Opt(Str()),
  volumeMode: Opt(Enum(['Filesystem', 'Block'] as const)),
  dataSource: Opt(TypedRef),
  dataSourceRef: Opt(TypedRef),
  volumeAttributesClassName: Opt(Str()),
});

export const PersistentVolumeClaimSchema = Obj({
  ...envelope('v1', 'PersistentVolumeClaim'),
  spec: PersistentVolumeClaimSpecSchema,
  status: Opt(
    Obj({
      phase: Opt(Enum(['Pending', 'Bound', 'Lost'] as const)),
      accessModes: Opt(AccessModes()),
      capacity: Opt(ResourceList()),
      conditions: Opt(Type.Array(ConditionSchema)),
    }),
  ),
});

export const ClaimRefSchema = Obj({
  apiVersion: Opt(Str()),
  kind: Opt(Str()),
  namespace: Opt(Str()),
  name: Opt(Str()),
  uid: Opt(Str()),
  resourceVersion: Opt(Str()),
  fieldPath: Opt(Str()),
});

export const PersistentVolumeSpecSchema = Obj({
  capacity: Opt(ResourceList()),
  accessModes: Opt(AccessModes()),
  persistentVolumeReclaimPolicy: Opt(Enum(['Retain', 'Delete', 'Recycle'] as const)),
  storageClassName: Opt(Str()),
  volumeMode: Opt(Enum(['Filesystem', 'Block'] as const)),
  claimRef: Opt(ClaimRefSchema),
  nodeAffinity: Opt(Obj({ required: Opt(Obj({ nodeSelectorTerms: Type.Array(NodeSelectorTermSchema) })) })),
  mountOptions: Opt(Type.Array(Str())),
  volumeAttributesClassName: Opt(Str()),
  hostPath: Opt(Obj({ path: Str({ maxLength: 4096 }), type: Opt(Str()) })),
  local: Opt(Obj({ path: Str({ maxLength: 4096 }), fsType: Opt(Str()) })),
  // Network and cloud volume sources: valid Kubernetes, refused by name (rules/storage.ts).
  nfs: Opt(Free()),
  csi: Opt(Free()),
  iscsi: Opt(Free()),
  awsElasticBlockStore: Opt(Free()),
  gcePersistentDisk: Opt(Free()),
  azureDisk: Opt(Free()),
  azureFile: Opt(Free()),
  fc: Opt(Free()),
  cephfs: Opt(Free()),
  rbd: Opt(Free()),
});

export const PersistentVolumeSchema = Obj({
  ...envelope('v1', 'PersistentVolume'),
  spec: PersistentVolumeSpecSchema,
  status: Opt(
    Obj({
      phase: Opt(Enum(['Pending', 'Available', 'Bound', 'Released', 'Failed'] as const)),
      message: Opt(Str()),
      reason: Opt(Str()),
      lastPhaseTransitionTime: Opt(Time()),
    }),
  ),
});

/** StorageClass has no spec: its fields sit at the top level, as in Kubernetes. */
export const StorageClassSchema = Obj({
  ...envelope('storage.k8s.io/v1', 'StorageClass'),
  provisioner: Str(),
  parameters: Opt(StrMap()),
  reclaimPolicy: Opt(Enum(['Retain', 'Delete'] as const)),
  mountOptions: Opt(Type.Array(Str())),
  allowVolumeExpansion: Opt(Bool()),
  volumeBindingMode: Opt(Enum(['Immediate', 'WaitForFirstConsumer'] as const)),
  allowedTopologies: Opt(Type.Array(Free())),
});

export type PersistentVolumeClaimSpec = Static<typeof PersistentVolumeClaimSpecSchema>;
export type PersistentVolumeClaim = Kind<Static<typeof PersistentVolumeClaimSchema>>;
export type PersistentVolume = Kind<Static<typeof PersistentVolumeSchema>>;
export type StorageClass = Kind<Static<typeof StorageClassSchema>>;

/** The node a local PV lives on: its nodeAffinity's `kubernetes.io/hostname In [name]`, when it names one. */
export function volumeNode(pv: { spec?: PersistentVolume['spec'] }): string | undefined {
  for (const term of pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [])
    for (const e of term.matchExpressions ?? [])
      if (e.key === HOSTNAME_LABEL && e.operator === 'In' && e.values?.length === 1) return e.values[0];
  return undefined;
}

/** A PV the local provisioner made: its directory is `<agent state dir>/volumes/<PV name>` on its node. */
export function isProvisionedLocally(pv: PersistentVolume): boolean {
  return pv.metadata.annotations?.[PROVISIONED_BY_ANNOTATION] === LOCAL_PROVISIONER;
}
