/** Table columns of StatefulSets, ControllerRevisions and the storage kinds (claims, volumes, classes), after kubectl's printers. */
import { arr, at, type Loose, num, record, str } from './fields';
import { containerImages, created, type KindColumns, name } from './kind-columns';

/** kubectl's short access modes: RWO, ROX, RWX, RWOP. */
const ACCESS_SHORT: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};
const accessModes = (obj: Loose, path: string) =>
  (at(obj, path) as string[] | undefined)?.map((m) => ACCESS_SHORT[m] ?? m).join(',') ?? '';

function claimOf(pv: Loose): string {
  const ns = str(pv, 'spec.claimRef.namespace');
  const n = str(pv, 'spec.claimRef.name');
  return n ? `${ns}/${n}` : '';
}

export const STORAGE_COLUMNS: Record<string, KindColumns> = {
  StatefulSet: {
    headers: ['NAME', 'READY', 'AGE'],
    row: (o, now) => [name(o), `${num(o, 'status.readyReplicas')}/${num(o, 'spec.replicas', 1)}`, created(o, now)],
    wideHeaders: ['CONTAINERS', 'IMAGES'],
    wideRow: (o) => containerImages(o, 'spec.template.spec.containers'),
  },
  ControllerRevision: {
    headers: ['NAME', 'CONTROLLER', 'REVISION', 'AGE'],
    row: (o, now) => {
      const owner = arr(o, 'metadata.ownerReferences').find((r) => r.controller === true);
      const controller = owner ? `${str(owner, 'kind').toLowerCase()}.apps/${str(owner, 'name')}` : '<none>';
      return [name(o), controller, String(num(o, 'revision')), created(o, now)];
    },
  },
  PersistentVolumeClaim: {
    headers: ['NAME', 'STATUS', 'VOLUME', 'CAPACITY', 'ACCESS MODES', 'STORAGECLASS', 'VOLUMEATTRIBUTESCLASS', 'AGE'],
    row: (o, now) => [
      name(o),
      at(o, 'metadata.deletionTimestamp') ? 'Terminating' : str(o, 'status.phase', 'Pending'),
      str(o, 'spec.volumeName'),
      str(o, 'status.capacity.storage'),
      accessModes(o, 'status.accessModes'),
      str(o, 'spec.storageClassName'),
      '<unset>',
      created(o, now),
    ],
    wideHeaders: ['VOLUMEMODE'],
    wideRow: (o) => [str(o, 'spec.volumeMode', 'Filesystem')],
  },
  PersistentVolume: {
    headers: [
      'NAME',
      'CAPACITY',
      'ACCESS MODES',
      'RECLAIM POLICY',
      'STATUS',
      'CLAIM',
      'STORAGECLASS',
      'VOLUMEATTRIBUTESCLASS',
      'REASON',
      'AGE',
    ],
    row: (o, now) => [
      name(o),
      str(o, 'spec.capacity.storage'),
      accessModes(o, 'spec.accessModes'),
      str(o, 'spec.persistentVolumeReclaimPolicy', 'Retain'),
      at(o, 'metadata.deletionTimestamp') ? 'Terminating' : str(o, 'status.phase', 'Pending'),
      claimOf(o),
      str(o, 'spec.storageClassName'),
      '<unset>',
      str(o, 'status.reason'),
      created(o, now),
    ],
    wideHeaders: ['VOLUMEMODE'],
    wideRow: (o) => [str(o, 'spec.volumeMode', 'Filesystem')],
  },
  StorageClass: {
    headers: ['NAME', 'PROVISIONER', 'RECLAIMPOLICY', 'VOLUMEBINDINGMODE', 'ALLOWVOLUMEEXPANSION', 'AGE'],
    row: (o, now) => [
      `${name(o)}${record(o, 'metadata.annotations')['storageclass.kubernetes.io/is-default-class'] === 'true' ? ' (default)' : ''}`,
      str(o, 'provisioner'),
      str(o, 'reclaimPolicy', 'Delete'),
      str(o, 'volumeBindingMode', 'Immediate'),
      String(at(o, 'allowVolumeExpansion') === true),
      created(o, now),
    ],
  },
};
