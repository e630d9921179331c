/** Rules for every kind's metadata: name syntax per kind, namespace per scope, labels, annotations. */
import { invalid, invalidMessage, required, tooLong } from '../causes';
import type { KindInfo } from '../kinds';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, validLabelValue, validQualifiedName } from './names';

const ANNOTATIONS_MAX_BYTES = 256 * 1024;
/** Kinds whose names must be DNS-1123 labels (they become DNS names or env var prefixes). */
const LABEL_NAMED = new Set(['Namespace', 'Service']);
/**
 * RBAC objects are named by path segments, not DNS names (Kubernetes' ValidateRBACName):
 * `system:metrics-server` is a ClusterRole real manifests ship.
 */
const PATH_SEGMENT_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

/** Kubernetes' path.IsValidPathSegmentName, bounded like every other name. */
export function validPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !/[/%]/.test(name) && name.length <= 253;
}

export function checkMetadata(info: KindInfo, obj: Rec, causes: StatusCause[]): void {
  const meta = isRec(obj.metadata) ? obj.metadata : {};
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    causes.push(required('metadata.name', 'name or generateName is required'));
  } else if (PATH_SEGMENT_NAMED.has(info.kind)) {
    if (!validPathSegmentName(name))
      causes.push(
        invalid('metadata.name', name, `may not be '.' or '..', contain '/' or '%', or exceed 253 characters`),
      );
  } else if (
    LABEL_NAMED.has(info.kind) ? !DNS1123_LABEL.test(name) || name.length > 63 : !DNS1123_SUBDOMAIN.test(name)
  ) {
    causes.push(
      invalid(
        'metadata.name',
        name,
        `a lowercase RFC 1123 ${LABEL_NAMED.has(info.kind) ? 'label (at most 63 characters)' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      ),
    );
  }
  if (info.namespaced) {
    if (typeof meta.namespace !== 'string' || meta.namespace === '') causes.push(required('metadata.namespace'));
    else if (!DNS1123_LABEL.test(meta.namespace))
      causes.push(invalid('metadata.namespace', meta.namespace, 'must be a lowercase RFC 1123 label'));
  } else if (meta.namespace !== undefined && meta.namespace !== '') {
    causes.push(invalid('metadata.namespace', meta.namespace, `${info.kind} is cluster-scoped and has no namespace`));
  }
  checkLabels(meta.labels, 'metadata.labels', causes);
  if (isRec(meta.annotations)) {
    let size = 0;
    for (const [k, v] of Object.entries(meta.annotations)) {
      size += k.length + String(v).length;
      if (!validQualifiedName(k))
        causes.push(
          invalidMessage(`metadata.annotations[${k}]`, 'Invalid value: annotation key must be a qualified name'),
        );
    }
    if (size > ANNOTATIONS_MAX_BYTES)
      causes.push(tooLong('metadata.annotations', `must have at most ${ANNOTATIONS_MAX_BYTES} bytes`));
  }
}

/** A label map (metadata.labels, nodeSelector, matchLabels): qualified names to label values. */
export function checkLabels(labels: unknown, path: string, causes: StatusCause[]): void {
  if (!isRec(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    if (!validQualifiedName(k)) {
      causes.push(
        invalid(
          `${path}[${k}]`,
          k,
          "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)",
        ),
      );
    }
    if (typeof v === 'string' && !validLabelValue(v)) {
      causes.push(
        invalid(
          `${path}[${k}]`,
          v,
          "a valid label value must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.'",
        ),
      );
    }
  }
}
