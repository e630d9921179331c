/**
 * The files of downwardAPI and projected volumes, as the kubelet writes them: a downwardAPI file
 * holds one pod metadata field (labels and annotations as sorted `key="value"` lines, the format
 * of k8s.io/kubernetes/pkg/fieldpath FormatMap); a projected volume merges configMap, secret and
 * downwardAPI sources into one directory. Rewritten on every pass (unchanged files are left
 * alone), so a label or ConfigMap change reaches the running container, as in Kubernetes.
 */
import type { Pod } from '../../schemas/pod';
import type { ConfigSources, VolumeFiles } from './config-sources';
import { ConfigNotReadyError } from './config-sources';
import { fieldValue } from './env';

type Volume = NonNullable<Pod['spec']['volumes']>[number];
type DownwardItems = NonNullable<NonNullable<Volume['downwardAPI']>['items']>;
const DEFAULT_MODE = 0o644;

export function downwardFiles(pod: Pod, items: DownwardItems, defaultMode = DEFAULT_MODE): VolumeFiles {
  const files: VolumeFiles = new Map();
  for (const item of items) {
    const path = item.fieldRef?.fieldPath;
    const value = path === undefined ? undefined : metadataField(pod, path);
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
          ? downwardFiles(pod, src.downwardAPI.items ?? [], mode)
          : new Map();
    for (const [path, file] of part) files.set(path, file);
  }
  return files;
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
