/**
 * Why a pod fails as a whole on this node, checked at each pass: it ran past
 * `activeDeadlineSeconds` (DeadlineExceeded), or a disk emptyDir went over its `sizeLimit`
 * (Evicted, with the kubelet's message `Usage of EmptyDir volume "data" exceeds the limit "1Gi". `).
 * Either way every container is killed (an eviction at once, grace 0, as the kubelet's
 * emptyDirLimitEviction) and the pod is Failed with that reason; a controller replaces it. The
 * kubelet's eviction manager measures every 10 s; so does this, per pod, and each measurement is
 * bounded (disk-usage.ts). A `medium: Memory` emptyDir is a sized tmpfs and needs none.
 */
import type { Pod } from '../../schemas/pod';
import { bytes } from '../../schemas/quantity';
import { diskUsage } from './disk-usage';
import type { PodRecord } from './record';

export const DISK_CHECK_MS = 10_000;

export interface PodFailure {
  deadlineExceeded?: boolean;
  /** The eviction message. */
  evicted?: string;
}

export function podFailure(rec: PodRecord, pod: Pod, now: number, volumeDir: (volume: string) => string): PodFailure {
  const deadline = pod.spec.activeDeadlineSeconds;
  if (deadline !== undefined && rec.startTime !== undefined && now - Date.parse(rec.startTime) >= deadline * 1000)
    rec.deadlineExceeded = true;
  if (!rec.evicted && now - (rec.diskCheckedAt ?? Number.NEGATIVE_INFINITY) >= DISK_CHECK_MS) {
    rec.diskCheckedAt = now;
    const over = overLimit(pod, volumeDir);
    if (over) rec.evicted = over;
  }
  return {
    ...(rec.deadlineExceeded ? { deadlineExceeded: true } : {}),
    ...(rec.evicted ? { evicted: rec.evicted } : {}),
  };
}

/** The message for the first disk emptyDir over its sizeLimit, if any. */
function overLimit(pod: Pod, volumeDir: (volume: string) => string): string | undefined {
  for (const v of pod.spec.volumes ?? []) {
    const limit = v.emptyDir?.sizeLimit;
    if (limit === undefined || v.emptyDir?.medium === 'Memory') continue;
    const max = bytes(limit);
    if (max > 0 && diskUsage(volumeDir(v.name), max).bytes > max)
      return `Usage of EmptyDir volume "${v.name}" exceeds the limit "${limit}". `;
  }
  return undefined;
}
