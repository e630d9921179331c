/**
 * The files of downwardAPI and projected volumes, as the kubelet writes them: a downwardAPI file
 * holds one pod metadata field (labels and annotations as sorted `key="value"` lines, the format
 * of k8s.io/kubernetes/pkg/fieldpath FormatMap); a projected volume merges configMap, secret and
 * downwardAPI and serviceAccountToken sources into one directory. A `resourceFieldRef` file
 * holds a container's limit or request (resource-fields.ts). Rewritten on every pass (unchanged
 * files are left alone), so a label, ConfigMap or renewed token reaches the running container,
 * as in Kubernetes.
 */
import type { TokenProjection } from '../../schemas/agent-protocol';
import type { Pod } from '../../schemas/pod';
import type { ConfigSources, VolumeFiles } from './config-sources';
import { ConfigNotReadyError } from './config-sources';
import { fieldValue } from './env';
import { type Allocatable, resourceFieldValue } from './resource-fields';

/** What a volume's files need beyond the pod and its config: the node's allocatable, the pod's tokens. */
export interface VolumeFacts {
  allocatable?: Allocatable;
  /** The current token of a serviceAccountToken projection; throws ConfigNotReadyError while none. */
  token?: (projection: TokenProjection) => string;
}

type Volume = NonNullable<Pod['spec']['volumes']>[number];
type DownwardItems = NonNullable<NonNullable<Volume['downwardAPI']>['items']>;
const DEFAULT_MODE = 0o644;

export function downwardFiles(
  pod: Pod,
  items: DownwardItems,
  defaultMode = DEFAULT_MODE,
  facts: VolumeFacts = {},
): VolumeFiles {
  const files: VolumeFiles = new Map();
  for (const item of items) {
    const path = item.fieldRef?.fieldPath;
    const value = item.resourceFieldRef
      ? resourceFieldValue(pod, item.resourceFieldRef, undefined, facts.allocatable ?? {})
      : path === undefined
        ? undefined
        : metadataField(pod, path);
    // The API refuses other fields; this guards a pod stored before it did.
    if (value === undefined) throw new ConfigNotReadyError(`downwardAPI file ${item.path}: unsupported field`);
    files.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
  }
  return files;
}

export function projectedFiles(
  config: ConfigSources,
  pod: Pod,
  projected: NonNullable<Volume['projected']>,
  facts: VolumeFacts = {},
): VolumeFiles {
  const namespace = pod.metadata.namespace as string;
  const mode = projected.defaultMode ?? DEFAULT_MODE;
  const files: VolumeFiles = new Map();
  for (const src of projected.sources ?? []) {
    const part = src.configMap
      ? config.files(namespace, { kind: 'ConfigMap', ...src.configMap }, mode)
      : src.secret
        ? config.files(namespace, { kind: 'Secret', ...src.secret }, mode)
        : src.downwardAPI
          ? downwardFiles(pod, src.downwardAPI.items ?? [], mode, facts)
          : src.serviceAccountToken
            ? tokenFile(src.serviceAccountToken, mode, facts)
            : new Map();
    for (const [path, file] of part) files.set(path, file);
  }
  return files;
}

function tokenFile(
  src: NonNullable<NonNullable<NonNullable<Volume['projected']>['sources']>[number]['serviceAccountToken']>,
  mode: number,
  facts: VolumeFacts,
): VolumeFiles {
  if (!facts.token) throw new ConfigNotReadyError('serviceAccountToken: this node issues no pod tokens');
  const projection: TokenProjection = {
    ...(src.audience ? { audience: src.audience } : {}),
    ...(src.expirationSeconds !== undefined ? { expirationSeconds: src.expirationSeconds } : {}),
  };
  return new Map([[src.path, { data: Buffer.from(facts.token(projection), 'utf8'), mode }]]);
}

function metadataField(pod: Pod, path: string): string | undefined {
  if (path === 'metadata.labels' || path === 'metadata.annotations') {
    const map = pod.metadata[path === 'metadata.labels' ? 'labels' : 'annotations'] ?? {};
    return Object.keys(map)
      .sort()
      .map((k) => `${k}=${JSON.stringify(map[k])}`)
      .join('\n');
  }
  return path.startsWith('metadata.') ? fieldValue({ pod, nodeIp: '' }, path) : undefined;
}
