/**
 * Per-node allocation records: the scheduler's commit point. A record lists what is bound or
 * reserved on a node; it is updated with a conditional write (resourceVersion) BEFORE a pod is
 * bound to that node. Two passes that both want the last free CPU on a node race on that one
 * record and exactly one wins, so no interleaving of passes puts a node over its allocatable.
 * A pass that reserved but then lost the pod's own conditional bind leaves a reservation behind;
 * it stops counting once the pod is bound elsewhere, or after RESERVATION_TTL_MS (a crashed pass).
 *
 * Records are an internal kind (`NodeAllocation`), not served by the API. Reservations are a list,
 * not an object keyed by pod uid: V8 gives every object with a new property name a new hidden
 * class, and thousands of uid-keyed objects made record handling the scheduler's hot spot.
 */
import type { Pod } from '../../schemas';
import type { Obj } from '../store/types';
import { podHostPorts, podOtherRequests, podRequests } from './requests';

export const ALLOCATION_KIND = 'NodeAllocation';
export const RESERVATION_TTL_MS = 30_000;

export interface Reservation {
  /** The pod's uid. */
  uid: string;
  cpu: number;
  mem: number;
  hostPorts?: string[];
  /** Requests of other resources (ephemeral-storage, extended resources), when there are any. */
  other?: Record<string, number>;
  /** When the reservation was made; 0 for entries derived from a bound pod. */
  boundAt: number;
}

export interface AllocationRecord extends Obj {
  spec: { pods: Reservation[] };
}

export function reservationOf(pod: Pod, now: number): Reservation {
  const { cpu, mem } = podRequests(pod);
  return reservation(pod.metadata.uid as string, cpu, mem, podHostPorts(pod), now, podOtherRequests(pod));
}

export function reservation(
  uid: string,
  cpu: number,
  mem: number,
  hostPorts: string[],
  now: number,
  other?: Record<string, number>,
): Reservation {
  const r: Reservation = hostPorts.length
    ? { uid, cpu, mem, hostPorts, boundAt: now }
    : { uid, cpu, mem, boundAt: now };
  if (other) r.other = other;
  return r;
}

export function newRecord(nodeName: string): AllocationRecord {
  return { apiVersion: 'ferry.dev/v1', kind: ALLOCATION_KIND, metadata: { name: nodeName }, spec: { pods: [] } };
}

/**
 * The record's entries that still count against the node. `livePods` maps the uid of every pod in
 * the pass's snapshot to the node it is bound to ('' while pending); the snapshot was listed at
 * `snapshotAt`. An entry is dropped when its pod is bound to another node, when its pod was already
 * reserved before the snapshot yet is missing from it (deleted), or when it is a reservation for a
 * still-pending pod older than RESERVATION_TTL_MS (the pass that made it crashed or lost the bind).
 * An entry for a pod the snapshot cannot know yet (made after the list) is kept: never under-count.
 */
export function pruneEntries(
  record: AllocationRecord | undefined,
  nodeName: string,
  livePods: Map<string, string>,
  snapshotAt: number,
  now: number,
): Map<string, Reservation> {
  const out = new Map<string, Reservation>();
  const pods = record?.spec.pods;
  // A record written before reservations were a list holds nothing worth keeping: bound pods are
  // counted from the pods themselves, and its reservations are older than any pass still running.
  if (!Array.isArray(pods)) return out;
  for (const r of pods) {
    const boundTo = livePods.get(r.uid);
    if (boundTo === undefined) {
      if (r.boundAt < snapshotAt - CLOCK_MARGIN_MS) continue;
    } else if (boundTo !== '' && boundTo !== nodeName) {
      continue;
    } else if (boundTo === '' && now - r.boundAt > RESERVATION_TTL_MS) {
      continue;
    }
    out.set(r.uid, r);
  }
  return out;
}

/** Allowance for clock skew between control-plane instances. */
const CLOCK_MARGIN_MS = 1_000;
