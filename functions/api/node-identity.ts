/**
 * What a node may say about itself, after Kubernetes' NodeRestriction admission plugin
 * (plugin/pkg/admission/noderestriction): the capacity it claims is no more than its machine's
 * when its pool's cloud said what the machine is, and bounded in any case; the labels it
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
 * Bounds on every claimed capacity: beyond the largest machines the clouds sell, and Kubernetes'
 * tested limit of 110 pods per node (also the agent's default). A NodePool machine is held to its
 * machine type as well (machineCapacityProblems); any other node only to these.
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

/** 422 causes for claimed capacity/allocatable beyond the bounds, or not a quantity. */
export function capacityProblems(status: unknown, field = 'status'): StatusCause[] {
  const causes: StatusCause[] = [];
  const s = (status ?? {}) as Record<string, unknown>;
  for (const list of ['capacity', 'allocatable']) {
    const resources = s[list];
    if (typeof resources !== 'object' || resources === null) continue;
    for (const [name, value] of Object.entries(resources as Record<string, unknown>)) {
      let n: number;
      try {
        n = parseQuantity(value as string | number);
      } catch {
        // The Node schema takes any string: a claim the scheduler cannot read is refused here.
        causes.push({
          field: `${field}.${list}.${name}`,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(value)}: must be a quantity (e.g. "2", "500m", "4Gi")`,
        });
        continue;
      }
      const bound = CAPACITY_BOUNDS[name];
      if (bound === undefined) continue;
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

/**
 * How far above its machine's nominal memory a node may claim: catalogues round (a size listed in
 * MB, a kernel counting MiB), and a kernel reports less than the machine has, never much more.
 */
export const MEMORY_SLACK = 0.03;

/** What a NodePool machine is, as its cloud said when the machine was made (cores, bytes). */
export interface MachineSize {
  cpu: number;
  memory: number;
}

/**
 * 422 causes for claimed cpu or memory (capacity or allocatable) above what the machine is. A value
 * that is not a quantity is capacityProblems' to report.
 */
export function machineCapacityProblems(status: unknown, machine: MachineSize, field = 'status'): StatusCause[] {
  const limits: Record<string, { max: number; what: string }> = {
    cpu: { max: machine.cpu, what: `${machine.cpu} CPUs` },
    memory: {
      max: Math.floor(machine.memory * (1 + MEMORY_SLACK)),
      what: `${machine.memory} bytes of memory (claims up to ${MEMORY_SLACK * 100}% above are allowed)`,
    },
  };
  const causes: StatusCause[] = [];
  const s = (status ?? {}) as Record<string, unknown>;
  for (const list of ['capacity', 'allocatable']) {
    const resources = s[list];
    if (typeof resources !== 'object' || resources === null) continue;
    for (const [name, limit] of Object.entries(limits)) {
      const value = (resources as Record<string, unknown>)[name];
      if (value === undefined) continue;
      let n: number;
      try {
        n = parseQuantity(value as string | number);
      } catch {
        continue;
      }
      if (Number.isNaN(n) || n > limit.max) {
        causes.push({
          field: `${field}.${list}.${name}`,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(value)}: must be no more than the node's machine has: its cloud reports ${limit.what}`,
        });
      }
    }
  }
  return causes;
}

/**
 * The server-owned annotation a NodePool machine's Node carries from registration on: what its
 * cloud said the machine is, as JSON `{"cpu":2,"memory":8589934592}`. A node may not change it
 * (`ferry.dev/` annotations are the server's), so its later status writes are held to it too.
 */
export const MACHINE_CAPACITY_ANNOTATION = 'ferry.dev/machine-capacity';

export function machineSizeAnnotation(machine: MachineSize): Record<string, string> {
  return { [MACHINE_CAPACITY_ANNOTATION]: JSON.stringify({ cpu: machine.cpu, memory: machine.memory }) };
}

/** The machine size a Node records, or undefined (none, or not two positive numbers: then the bounds only). */
export function machineSizeOf(node: Obj | undefined): MachineSize | undefined {
  const raw = node?.metadata.annotations?.[MACHINE_CAPACITY_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    const { cpu, memory } = JSON.parse(raw) as { cpu?: unknown; memory?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;
    return ok(cpu) && ok(memory) ? { cpu, memory } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every capacity problem of a node's claim: the bounds, then (one cause per field) what its machine
 * has, when known.
 */
export function claimProblems(status: unknown, machine: MachineSize | undefined, field = 'status'): StatusCause[] {
  const bounded = capacityProblems(status, field);
  const over = machine ? machineCapacityProblems(status, machine, field) : [];
  return [...bounded, ...over.filter((c) => !bounded.some((b) => b.field === c.field))];
}

export function checkClaim(
  kind: string,
  name: string,
  status: unknown,
  machine: MachineSize | undefined,
  field?: string,
): void {
  const causes = claimProblems(status, machine, field);
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
  checkClaim('Node', self, next.status, machineSizeOf(stored));
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
