/**
 * The object a resource route names: its store ref, a 404 in Kubernetes' words, and the
 * namespaces a server keeps, the metadata a write carries over and generateName's suffix. Shared
 * by the create/read/write paths (resources.ts) and DELETE (delete.ts).
 */
import { randomBytes } from 'node:crypto';
import type { KindInfo } from '../../schemas';
import { NotFoundError } from '../errors';
import type { Obj, ObjectRef } from '../store/types';
import { resourceLabel } from './admission';
import type { ApiDeps, ResourceRoute } from './types';

/** Namespaces a server creates on first start and refuses to delete. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-node-lease'] as const;

export function refOf(route: ResourceRoute, name: string): ObjectRef {
  const ref: ObjectRef = { kind: route.info.kind, name };
  if (route.info.namespaced && route.namespace !== undefined) ref.namespace = route.namespace;
  return ref;
}

export function notFoundFor(info: KindInfo, name: string): NotFoundError {
  return new NotFoundError(info.kind, name, `${resourceLabel(info)} "${name}" not found`);
}

export async function mustGet(deps: ApiDeps, route: ResourceRoute): Promise<Obj> {
  const obj = await deps.store.get(refOf(route, route.name as string));
  if (!obj) throw notFoundFor(route.info, route.name as string);
  return obj;
}

/** Metadata the server keeps across writes to the main resource. */
export function carryServerMetadata(stored: Obj, next: Obj): void {
  const m = stored.metadata;
  if (m.deletionTimestamp !== undefined) next.metadata.deletionTimestamp = m.deletionTimestamp;
  if (m.deletionGracePeriodSeconds !== undefined)
    next.metadata.deletionGracePeriodSeconds = m.deletionGracePeriodSeconds;
  if (m.uid !== undefined) next.metadata.uid = m.uid;
  if (m.creationTimestamp !== undefined) next.metadata.creationTimestamp = m.creationTimestamp;
  if (m.generation !== undefined) next.metadata.generation = m.generation;
}

/** Kubernetes' generateName suffix: five characters from [a-z0-9]. */
export function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join('');
}
