/** Metadata bookkeeping shared by every StateStore backend, so they cannot drift apart. */
import { randomUUID } from 'node:crypto';
import type { Obj, ObjectRef } from './types';

/** The storage key of an object: kind/namespace/name (namespace empty for cluster-scoped kinds). */
export function keyOf(ref: ObjectRef | Obj): string {
  const r = 'metadata' in ref ? { kind: ref.kind, namespace: ref.metadata.namespace, name: ref.metadata.name } : ref;
  return `${r.kind}/${r.namespace ?? ''}/${r.name}`;
}

export function refOf(obj: Obj): ObjectRef {
  const ref: ObjectRef = { kind: obj.kind, name: obj.metadata.name };
  if (obj.metadata.namespace !== undefined) ref.namespace = obj.metadata.namespace;
  return ref;
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A copy of `obj` as the store keeps it on create. */
export function stampCreate<T extends Obj>(obj: T, resourceVersion: string, now: number): T {
  const out = clone(obj);
  out.metadata.uid = randomUUID();
  out.metadata.resourceVersion = resourceVersion;
  out.metadata.creationTimestamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  out.metadata.generation = 1;
  return out;
}

/** A copy of `next` as the store keeps it when it replaces `stored`. */
export function stampUpdate<T extends Obj>(stored: Obj, next: T, resourceVersion: string): T {
  const out = clone(next);
  out.metadata.uid = stored.metadata.uid as string;
  out.metadata.creationTimestamp = stored.metadata.creationTimestamp as string;
  out.metadata.resourceVersion = resourceVersion;
  const generation = stored.metadata.generation ?? 1;
  out.metadata.generation = desiredChanged(stored, out) ? generation + 1 : generation;
  return out;
}

/** Whether anything outside metadata and status differs (Kubernetes bumps generation then). */
function desiredChanged(a: Obj, b: Obj): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === 'metadata' || k === 'status') continue;
    if (!deepEqual(a[k], b[k])) return true;
  }
  return false;
}

/** Structural equality of JSON values, key order ignored. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

export function compareObjects(a: Obj, b: Obj): number {
  const na = a.metadata.namespace ?? '';
  const nb = b.metadata.namespace ?? '';
  if (na !== nb) return na < nb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

export function nodeNameOf(obj: Obj): string | undefined {
  const spec = obj.spec as { nodeName?: unknown } | undefined;
  return typeof spec?.nodeName === 'string' && spec.nodeName !== '' ? spec.nodeName : undefined;
}
