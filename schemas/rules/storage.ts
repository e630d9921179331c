/**
 * Rules for PersistentVolumeClaims (also a StatefulSet's claim templates), PersistentVolumes and
 * StorageClasses: the storage request, access modes, one volume source ferry can mount, and the
 * fields it cannot honour refused by name (raw block, data sources, mount options, network volumes).
 */
import { invalid, invalidMessage, notSupported, required } from '../causes';
import { quantityProblem } from '../quantity';
import type { StatusCause } from '../status';
import { LOCAL_PROVISIONER } from '../storage';
import { isRec, type Rec } from '../tree';
import { checkSelector } from './selector';

const unsupported = (field: string, what: string): StatusCause => ({
  field,
  reason: 'FieldValueNotSupported',
  message: `ferry does not support ${what} yet`,
});

function checkAccessModes(modes: unknown, at: string, causes: StatusCause[]): void {
  if (!Array.isArray(modes) || modes.length === 0) {
    causes.push(required(at, 'at least 1 access mode is required'));
    return;
  }
  // pkg/apis/core/validation: ReadWriteOncePod may not be combined with another mode.
  if (modes.includes('ReadWriteOncePod') && modes.length > 1)
    causes.push(invalidMessage(at, 'Invalid value: may not use ReadWriteOncePod with other access modes'));
}

function checkStorage(q: unknown, at: string, causes: StatusCause[]): void {
  if (q === undefined) {
    causes.push(required(at));
    return;
  }
  const problem = quantityProblem(q);
  if (problem) causes.push(invalid(at, q, problem));
  else if (q === 0 || q === '0' || (typeof q === 'string' && /^0+(\.0*)?[a-zA-Z]*$/.test(q)))
    causes.push(invalid(at, q, 'must be greater than zero'));
}

/** A claim's spec at `at` (`spec`, or `spec.volumeClaimTemplates[i].spec`). */
export function checkClaimSpec(spec: Rec, at: string, causes: StatusCause[]): void {
  checkAccessModes(spec.accessModes, `${at}.accessModes`, causes);
  const requests = isRec(spec.resources) && isRec(spec.resources.requests) ? spec.resources.requests : {};
  checkStorage(requests.storage, `${at}.resources.requests[storage]`, causes);
  const limits = isRec(spec.resources) && isRec(spec.resources.limits) ? spec.resources.limits : {};
  if (limits.storage !== undefined) {
    const problem = quantityProblem(limits.storage);
    if (problem) causes.push(invalid(`${at}.resources.limits[storage]`, limits.storage, problem));
  }
  checkSelector(spec.selector, `${at}.selector`, causes);
  if (spec.volumeMode === 'Block')
    causes.push(unsupported(`${at}.volumeMode`, 'raw block volumes (volumeMode: Block)'));
  if (spec.dataSource !== undefined)
    causes.push(unsupported(`${at}.dataSource`, 'claims populated from a data source'));
  if (spec.dataSourceRef !== undefined)
    causes.push(unsupported(`${at}.dataSourceRef`, 'claims populated from a data source'));
  if (spec.volumeAttributesClassName !== undefined)
    causes.push(unsupported(`${at}.volumeAttributesClassName`, 'VolumeAttributesClasses'));
}

export function checkClaim(obj: Rec, causes: StatusCause[]): void {
  if (isRec(obj.spec)) checkClaimSpec(obj.spec, 'spec', causes);
}

const NETWORK_SOURCES = [
  'nfs',
  'csi',
  'iscsi',
  'awsElasticBlockStore',
  'gcePersistentDisk',
  'azureDisk',
  'azureFile',
  'fc',
  'cephfs',
  'rbd',
];

export function checkVolume(obj: Rec, causes: StatusCause[]): void {
  const spec = isRec(obj.spec) ? obj.spec : undefined;
  if (!spec) return;
  const capacity = isRec(spec.capacity) ? spec.capacity : {};
  checkStorage(capacity.storage, 'spec.capacity[storage]', causes);
  checkAccessModes(spec.accessModes, 'spec.accessModes', causes);
  if (spec.persistentVolumeReclaimPolicy === 'Recycle')
    causes.push(notSupported('spec.persistentVolumeReclaimPolicy', 'Recycle', ['Retain', 'Delete']));
  if (spec.volumeMode === 'Block') causes.push(unsupported('spec.volumeMode', 'raw block volumes (volumeMode: Block)'));
  if (spec.mountOptions !== undefined) causes.push(unsupported('spec.mountOptions', 'mount options'));
  if (spec.volumeAttributesClassName !== undefined)
    causes.push(unsupported('spec.volumeAttributesClassName', 'VolumeAttributesClasses'));
  for (const s of NETWORK_SOURCES)
    if (spec[s] !== undefined) causes.push(unsupported(`spec.${s}`, `${s} volumes (only hostPath and local)`));
  const sources = ['hostPath', 'local', ...NETWORK_SOURCES].filter((s) => spec[s] !== undefined);
  if (sources.length === 0) causes.push(required('spec', 'must specify a volume type (hostPath or local)'));
  if (sources.length > 1)
    causes.push(invalidMessage(`spec.${sources[1]}`, 'Forbidden: may not specify more than 1 volume type'));
  for (const s of ['hostPath', 'local']) {
    const src = spec[s];
    if (!isRec(src) || typeof src.path !== 'string') continue;
    if (!src.path.startsWith('/')) causes.push(invalid(`spec.${s}.path`, src.path, 'must be an absolute path'));
    if (src.path.split('/').includes('..')) causes.push(invalid(`spec.${s}.path`, src.path, "must not contain '..'"));
  }
  if (
    isRec(spec.hostPath) &&
    spec.hostPath.type !== undefined &&
    !['', 'DirectoryOrCreate'].includes(spec.hostPath.type as string)
  )
    causes.push(unsupported('spec.hostPath.type', 'hostPath types other than DirectoryOrCreate'));
  if (isRec(spec.local) && spec.local.fsType !== undefined)
    causes.push(unsupported('spec.local.fsType', 'local block devices (fsType)'));
  // Kubernetes: a local volume must say which node it is on.
  const terms =
    isRec(spec.nodeAffinity) && isRec(spec.nodeAffinity.required)
      ? spec.nodeAffinity.required.nodeSelectorTerms
      : undefined;
  if (spec.local !== undefined && (!Array.isArray(terms) || terms.length === 0))
    causes.push(required('spec.nodeAffinity', 'Local volumes require node affinity'));
}

export function checkStorageClass(obj: Rec, causes: StatusCause[]): void {
  if (typeof obj.provisioner === 'string' && obj.provisioner.trim() === '') causes.push(required('provisioner'));
  if (obj.mountOptions !== undefined) causes.push(unsupported('mountOptions', 'mount options'));
  if (obj.allowedTopologies !== undefined) causes.push(unsupported('allowedTopologies', 'allowedTopologies'));
  // A local directory has no size to grow: expansion would be stored and not done.
  if (obj.allowVolumeExpansion === true) causes.push(unsupported('allowVolumeExpansion', 'volume expansion'));
  if (obj.provisioner === LOCAL_PROVISIONER && isRec(obj.parameters) && Object.keys(obj.parameters).length > 0)
    causes.push(unsupported('parameters', `parameters for ${LOCAL_PROVISIONER}`));
}
