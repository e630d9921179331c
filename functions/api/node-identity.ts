/**
 * What a node may say about itself, after Kubernetes' NodeRestriction admission plugin
 * (plugin/pkg/admission/noderestriction): the capacity it claims is bounded, the labels it
 * registers with stay out of the namespaces that steer scheduling and ownership, and once
 * registered it writes only its Node's status (and annotations outside `ferry.dev/`) and its own
 * Lease, whose renewTime may not run ahead of the server's clock. Labels, taints and spec come from
 * the node's pool (its bootstrap token carries them) or an admin.
 */
import { parseQuantity } from '../../schemas/quantity';
import { ForbiddenError, InvalidError, type StatusCause } from '../errors';
import type { Obj } from '../store/types';
import type { Principal } from './auth';

/**
 * Bounds on claimed capacity. Providers report no machine sizes (providers/types.ts has no
 * instance-type catalogue), so every claim is bounded instead: beyond the largest machines the
 * clouds sell, and Kubernetes' tested limit of 110 pods per node (also the agent's default).
 */
export const CAPACITY_BOUNDS: Record<string, number> = {
  cpu: 1024,
  memory: 16 * 2 ** 40,
  pods: 110,
  'ephemeral-storage': 1024 * 2 ** 40,
};

/** How far a node's Lease renewTime may run ahead of the server's clock. */
export const LEASE_SKEW_MS = 10_000;

/** Annotations under this prefix are the server's (who registered the node): a node may not change them. */
const SERVER_ANNOTATION_PREFIX = 'ferry.dev/';

/**
 * Label keys a node may set on itself at registration, as NodeRestriction allows kubelets:
 * anything outside the kubernetes.io / k8s.io namespaces, a short list inside them, and never
 * `node-restriction.kubernetes.io/` (reserved for admins to steer workloads) or `ferry.dev/`.
 */
const NODE_SETTABLE_KUBERNETES_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/arch',
  'kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);

export function nodeMaySetLabel(key: string): boolean {
  const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
  if (prefix === 'node-restriction.kubernetes.io' || prefix.endsWith('.node-restriction.kubernetes.io')) return false;
  if (prefix === 'ferry.dev' || prefix.endsWith('.ferry.dev')) return false;
  const kube = ['kubernetes.io', 'k8s.io'].some((d) => prefix === d || prefix.endsWith(`.${d}`));
  return !kube || NODE_SETTABLE_KUBERNETES_LABELS.has(key);
}

/** 422 causes for claimed capacity/allocatable beyond the bounds (or not a quantity). */
export function capacityProblems(status: unknown, field = 'status'): StatusCause[] {
  const causes: StatusCause[] = [];
  const s = (status ?? {}) as Record<string, unknown>;
  for (const list of ['capacity', 'allocatable']) {
    const resources = s[list];
    if (typeof resources !== 'object' || resources === null) continue;
    for (const [name, value] of Object.entries(resources as Record<string, unknown>)) {
      const bound = CAPACITY_BOUNDS[name];
      if (bound === undefined) continue;
      let n: number;
      try {
        n = parseQuantity(value as string | number);
      } catch {
        continue; // the Node schema's quantity check reports it
      }
      if (!Number.isFinite(n) || n < 0 || n > bound) {
        causes.push({
          field: `${field}.${list}.${name}`,
          reason: 'FieldValueInvalid',
          message:
            `Invalid value: ${JSON.stringify(value)}: a node may claim at most ${bound} ${name === 'memory' || name === 'ephemeral-storage' ? 'bytes' : ''}`.trimEnd(),
        });
      }
    }
  }
  return causes;
}

export function checkCapacity(kind: string, name: string, status: unknown, field?: string): void {
  const causes = capacityProblems(status, field);
  if (causes.length > 0) throw new InvalidError(kind, name, causes);
}

/**
 * A node credential's write to its Node or Lease through the resource routes (create, update,
 * patch, apply). `stored` is the object before the write (undefined on create). Other roles and
 * kinds pass: RBAC-like checks are `authorize`'s job.
 */
export function restrictNodeWrite(principal: Principal, now: number, next: Obj, stored: Obj | undefined): void {
  if (principal.role !== 'node') return;
  const self = principal.nodeName as string;
  if (next.kind === 'Node') restrictNodeObject(self, next, stored);
  else if (next.kind === 'Lease') restrictLease(self, now, next);
}

function restrictNodeObject(self: string, next: Obj, stored: Obj | undefined): void {
  const refuse = (what: string) => {
    throw new ForbiddenError(
      `node "${self}" may not modify ${what} of its Node: labels, taints and spec come from its pool or an admin`,
    );
  };
  if (!stored)
    throw new ForbiddenError(`node "${self}" may not create Node objects; it registers through /agent/v1/register`);
  if (JSON.stringify(next.spec ?? {}) !== JSON.stringify(stored.spec ?? {})) refuse('the spec (taints, unschedulable)');
  if (JSON.stringify(sorted(next.metadata.labels)) !== JSON.stringify(sorted(stored.metadata.labels)))
    refuse('the labels');
  const owned = (o: Obj) =>
    sorted(
      Object.fromEntries(
        Object.entries(o.metadata.annotations ?? {}).filter(([k]) => k.startsWith(SERVER_ANNOTATION_PREFIX)),
      ),
    );
  if (JSON.stringify(owned(next)) !== JSON.stringify(owned(stored)))
    refuse(`the ${SERVER_ANNOTATION_PREFIX} annotations`);
  for (const field of ['ownerReferences', 'finalizers'] as const) {
    if (JSON.stringify(next.metadata[field] ?? []) !== JSON.stringify(stored.metadata[field] ?? []))
      refuse(`metadata.${field}`);
  }
  checkCapacity('Node', self, next.status);
}

function restrictLease(self: string, now: number, lease: Obj): void {
  if (lease.metadata.name !== self) {
    throw new ForbiddenError(
      `node "${self}" may write only its own Lease (kube-node-lease/${self}), not "${lease.metadata.name}"`,
    );
  }
  const spec = (lease.spec ?? {}) as { holderIdentity?: string; renewTime?: string; acquireTime?: string };
  if (spec.holderIdentity !== undefined && spec.holderIdentity !== self) {
    throw new ForbiddenError(
      `node "${self}" may not name another holder (${JSON.stringify(spec.holderIdentity)}) in its Lease`,
    );
  }
  for (const field of ['renewTime', 'acquireTime'] as const) {
    const at = spec[field];
    if (at === undefined) continue;
    const t = Date.parse(at);
    if (Number.isNaN(t) || t > now + LEASE_SKEW_MS) {
      throw new InvalidError('Lease', self, [
        {
          field: `spec.${field}`,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(at)}: must be a time no later than ${LEASE_SKEW_MS / 1000}s after the server's clock`,
        },
      ]);
    }
  }
}

function sorted(map: Record<string, string> | undefined): [string, string][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
