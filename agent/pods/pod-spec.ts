/** Reading a Pod's spec as the agent needs it: every container in order, the spec hash, the grace period. */
import { createHash } from 'node:crypto';
import type { Pod } from '../../schemas/pod';
import type { AnyContainer } from './record';

export function allContainers(pod: Pod): AnyContainer[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers] as AnyContainer[];
}

/** The kubelet's container hash: a changed definition (e.g. a new image) replaces the container. */
export function specHash(spec: AnyContainer): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
}

export function graceOf(pod: Pod): number {
  return pod.spec.terminationGracePeriodSeconds ?? 30;
}
