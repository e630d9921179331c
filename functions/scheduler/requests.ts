/**
 * What a pod asks of a node: its summed cpu/memory requests (limits when no request is given, as
 * Kubernetes defaults requests to limits), its requests of other resources (ephemeral-storage,
 * extended resources such as `example.com/gpu`) and its host ports. Shared by the snapshot, the
 * allocation records and the filters; its own file so those import it without a circle.
 */
import { bytes, cpuMillis, type Pod, parseQuantity } from '../../schemas';

export function podRequests(pod: Pod): { cpu: number; mem: number } {
  let cpu = 0;
  let mem = 0;
  for (const c of pod.spec.containers) {
    cpu += cpuMillis(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu);
    mem += bytes(c.resources?.requests?.memory ?? c.resources?.limits?.memory);
  }
  return { cpu, mem };
}

/** Resources the scheduler counts besides cpu and memory; `pods` is a node's count, not a request. */
const COUNTED_APART = new Set(['cpu', 'memory', 'pods']);

/**
 * The pod's summed requests of resources other than cpu and memory, by name (bytes for
 * ephemeral-storage, units for extended resources); undefined when it asks for none, which keeps
 * the common pod off this path. Names are checked at admission (schemas/rules/resources.ts).
 */
export function podOtherRequests(pod: Pod): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  // for...in without copies: this runs for every pod of every pass.
  for (const c of pod.spec.containers) {
    const requests = c.resources?.requests;
    const limits = c.resources?.limits;
    for (const name in requests) {
      const q = requests[name];
      if (COUNTED_APART.has(name) || q === undefined) continue;
      out ??= {};
      out[name] = (out[name] ?? 0) + parseQuantity(q);
    }
    // A limit without a request is the request, as Kubernetes defaults it.
    for (const name in limits) {
      const q = limits[name];
      if (COUNTED_APART.has(name) || q === undefined || requests?.[name] !== undefined) continue;
      out ??= {};
      out[name] = (out[name] ?? 0) + parseQuantity(q);
    }
  }
  return out;
}

/** The first resource in `asked` that `used` plus it would take over `allocatable`, or undefined. */
export function insufficient(
  asked: Record<string, number>,
  used: Record<string, number>,
  allocatable: Record<string, number>,
): string | undefined {
  for (const [name, n] of Object.entries(asked))
    if (n > 0 && (used[name] ?? 0) + n > (allocatable[name] ?? 0)) return name;
  return undefined;
}

/** Adds `other` into `into`. */
export function addOther(into: Record<string, number>, other: Record<string, number>): void {
  for (const [name, n] of Object.entries(other)) into[name] = (into[name] ?? 0) + n;
}

/** A node's allocatable resources other than cpu, memory and pods, parsed. */
export function otherAllocatable(alloc: Record<string, string | number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, q] of Object.entries(alloc)) {
    if (COUNTED_APART.has(name) || q === undefined) continue;
    try {
      out[name] = parseQuantity(q);
    } catch {
      // A node's malformed quantity offers nothing of that resource.
    }
  }
  return out;
}

export function podHostPorts(pod: Pod): string[] {
  const out: string[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${p.protocol ?? 'TCP'}/${p.hostPort}`);
  }
  return out;
}
