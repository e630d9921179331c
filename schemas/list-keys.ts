/**
 * Which lists of ferry's kinds are merged element by element, and on which key: Kubernetes marks
 * them `patchStrategy: merge` / `patchMergeKey` (strategic merge patch) and `listType: map` /
 * `listMapKeys` (server-side apply). One table serves the strategic merge patch
 * (functions/api/strategic-merge.ts), server-side apply's field sets (functions/api/managed-fields.ts)
 * and the OpenAPI documents kubectl computes its patches from (functions/api/openapi-v3.ts), so the
 * three never disagree. Every other list is atomic: replaced whole.
 */

/** Lists merged by key; `''` marks a list of primitives merged as a set (finalizers). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  ownerReferences: 'uid',
  conditions: 'type',
  addresses: 'type',
  finalizers: '',
};

/**
 * The merge key of the list at `path` (field names from the object's root, list indexes left out),
 * `''` for a set of primitives, undefined for an atomic list.
 */
export function mergeKeyAt(kind: string, path: readonly string[]): string | undefined {
  const field = path[path.length - 1] as string;
  if (field === 'ports') {
    // Service.spec.ports merge on port; a container's ports on containerPort.
    if (kind === 'Service' && path.length === 2 && path[0] === 'spec') return 'port';
    return path.includes('containers') || path.includes('initContainers') ? 'containerPort' : undefined;
  }
  return Object.hasOwn(MERGE_KEYS, field) ? MERGE_KEYS[field] : undefined;
}
