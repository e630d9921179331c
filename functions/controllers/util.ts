/** Helpers shared by the controllers: ownership, pod readiness and availability, template hashes. */
import { createHash } from 'node:crypto';
import type { Pod, PodTemplateSpec } from '../../schemas';
import { findCondition, isConditionTrue } from '../../schemas/conditions';
import type { Obj, OwnerReference } from '../store/types';

export function controllerRef(obj: Obj): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller);
}

export function isOwnedBy(obj: Obj, owner: Obj): boolean {
  return controllerRef(obj)?.uid === owner.metadata.uid;
}

export function ownerReferenceTo(owner: Obj): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid as string,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Not terminating and not finished: a pod that counts towards a ReplicaSet's replicas. */
export function isActive(pod: Pod): boolean {
  return !pod.metadata.deletionTimestamp && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

export function isReady(pod: Pod): boolean {
  return isConditionTrue(pod);
}

/** Ready for at least minReadySeconds (Kubernetes' "available"). */
export function isAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  const ready = findCondition(pod, 'Ready');
  if (ready?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = ready.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : now;
  return now - since >= minReadySeconds * 1000;
}

/** A stable short hash of a pod template (Kubernetes' pod-template-hash label). */
export function templateHash(template: PodTemplateSpec): string {
  return createHash('sha256').update(stableJson(template)).digest('hex').slice(0, 10);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** An IntOrString against a total: `25%` of 10 is 3 rounding up, 2 rounding down. */
export function resolveIntOrPercent(value: number | string | undefined, total: number, roundUp: boolean): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) return Number.parseInt(value, 10) || 0;
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

export { isoTime } from '../../schemas/time';

/**
 * Whether `a` and `b` serialize to the same stable JSON (keys in any order), compared in place:
 * building both texts made the endpoints controller's comparison of every Service's subsets, on
 * every pass, the largest self time of a busy server's controllers (issue 12, 2,000 nodes). The
 * answer is the texts' comparison's: arrays of another length are still compared as texts, the
 * one place where the two differ (an `undefined` element serializes to nothing).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const aObject = typeof a === 'object' && a !== null;
  const bObject = typeof b === 'object' && b !== null;
  if (!aObject || !bObject) return !aObject && !bObject && JSON.stringify(a) === JSON.stringify(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    if (a.length !== b.length) return stableJson(a) === stableJson(b);
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  for (const k of aKeys) {
    if (!Object.hasOwn(b, k)) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** Kubernetes-style random suffix for generated names. */
export function randomSuffix(length = 5): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return s;
}

/**
 * A new pending pod from an owner's pod template: named `<owner>-<random>`, the template's labels
 * (plus `labels`) and annotations, a controller reference to the owner.
 */
export function podFromTemplate(owner: Obj, template: PodTemplateSpec, labels: Record<string, string> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${owner.metadata.name.slice(0, 57)}-${randomSuffix()}`,
      namespace: owner.metadata.namespace as string,
      labels: { ...template.metadata?.labels, ...labels },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [ownerReferenceTo(owner)],
    },
    spec: structuredClone(template.spec),
    status: { phase: 'Pending' },
  } as Pod;
}
