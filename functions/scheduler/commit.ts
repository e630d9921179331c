/**
 * Commits a pass's plan: reserve on each planned node's allocation record (conditional writes),
 * then bind each accepted pod (conditional writes). Both steps go to the store as one batch
 * (`writeBatch`: one SQLite transaction for the whole pass instead of one per pod). On a record
 * conflict that node's planned pods are re-checked against the fresh record (the one the conflict
 * carries), in rounds (`retryRounds`); pods that no longer fit are left pending for the next pass.
 * See allocation.ts for why this never over-commits.
 */
import type { Pod } from '../../schemas';
import { isoTime } from '../../schemas/time';
import type { Deps } from '../deps';
import { isAlreadyExists, isConflict, isNotFound } from '../errors';
import { type EventRecord, recordEvents } from '../events';
import { retryRounds, storedAfter } from '../store/retry';
import type { WriteOp } from '../store/types';
import {
  ALLOCATION_KIND,
  type AllocationRecord,
  newRecord,
  pruneEntries,
  type Reservation,
  reservation,
} from './allocation';
import type { PodContext } from './filters';
import { addOther, insufficient } from './requests';
import type { NodeInfo } from './snapshot';

export interface CommitContext {
  deps: Deps;
  live: Map<string, string>;
  snapshotAt: number;
  events: boolean;
}

export interface CommitResult {
  bound: Pod[];
  /** Planned pods that did not fit the fresh record or lost their bind: still pending. */
  leftover: Pod[];
  /** Allocation-record conflicts met (another pass committed on the same node). */
  conflicts: number;
}

const MAX_ATTEMPTS = 4;

export async function commitPlan(ctx: CommitContext, plan: Map<NodeInfo, PodContext[]>): Promise<CommitResult> {
  const { deps } = ctx;
  const now = deps.clock();
  const leftover: Pod[] = [];
  const toBind: { pod: Pod; node: string }[] = [];
  let conflicts = 0;
  const nodes = [...plan].map(([info, planned]) => ({ info, planned, record: info.record }));
  const unreserved = await retryRounds(
    nodes,
    async (pending) => {
      const reserving: { info: NodeInfo; planned: PodContext[]; accepted: Pod[] }[] = [];
      const ops: WriteOp<AllocationRecord>[] = [];
      for (const { info, planned, record } of pending) {
        const { entries, accepted, rejected } = reserve(ctx, info, record, planned, now);
        leftover.push(...rejected);
        if (accepted.length === 0) continue;
        const next: AllocationRecord = { ...(record ?? newRecord(info.name)), spec: { pods: entries } };
        ops.push(record ? { op: 'update', object: next } : { op: 'create', object: next });
        reserving.push({ info, planned, accepted });
      }
      const results = await deps.store.writeBatch(ops);
      const retry: typeof pending = [];
      for (let i = 0; i < results.length; i++) {
        const result = results[i];
        const r = reserving[i];
        if (!result || !r) continue;
        if (result.ok) {
          for (const pod of r.accepted) toBind.push({ pod, node: r.info.name });
          continue;
        }
        // Conflict or AlreadyExists: another pass wrote the record first (the conflict carries it).
        // NotFound: it was removed (its node went away); the retry creates it if the node fits.
        if (!isConflict(result.error) && !isAlreadyExists(result.error) && !isNotFound(result.error))
          throw result.error;
        conflicts++;
        const ref = { kind: ALLOCATION_KIND, name: r.info.name };
        const record = await storedAfter<AllocationRecord>(deps.store, ref, result.error);
        retry.push({ info: r.info, planned: r.planned, record });
      }
      return retry;
    },
    MAX_ATTEMPTS,
  );
  for (const p of unreserved) for (const c of p.planned) leftover.push(c.pod);

  // Conditional on each pod's resourceVersion: a pod bound (or changed) by anyone since the
  // snapshot is left alone, so no pod is ever bound twice.
  const time = isoTime(now);
  const binds = await deps.store.writeBatch(
    toBind.map(({ pod, node }) => ({ op: 'update', object: bound(pod, node, time) })),
  );
  const done: Pod[] = [];
  const events: EventRecord[] = [];
  for (let i = 0; i < binds.length; i++) {
    const result = binds[i];
    const { pod, node } = toBind[i] as { pod: Pod; node: string };
    if (result?.ok) {
      done.push(pod);
      events.push({
        involved: pod,
        type: 'Normal',
        reason: 'Scheduled',
        message: `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node}`,
        source: { component: 'default-scheduler' },
      });
    } else if (result && (isConflict(result.error) || isNotFound(result.error))) {
      leftover.push(pod);
    } else if (result) {
      throw result.error;
    }
  }
  if (ctx.events) await recordEvents(deps, events);
  return { bound: done, leftover, conflicts };
}

/** The node's reservations after adding whichever planned pods still fit its (fresh) record. */
function reserve(
  ctx: CommitContext,
  info: NodeInfo,
  record: AllocationRecord | undefined,
  planned: PodContext[],
  now: number,
): { entries: Reservation[]; accepted: Pod[]; rejected: Pod[] } {
  const entries = pruneEntries(record, info.name, ctx.live, ctx.snapshotAt, now);
  // Bound pods of this node count even if the record does not list them yet.
  for (const [uid, r] of info.entries) if (ctx.live.get(uid) === info.name && !entries.has(uid)) entries.set(uid, r);
  const accepted: Pod[] = [];
  const rejected: Pod[] = [];
  const used = sum(entries.values());
  for (const { pod, cpu, mem, hostPorts, other } of planned) {
    const r = reservation(pod.metadata.uid as string, cpu, mem, hostPorts, now, other);
    if (fits(info, used, r)) {
      entries.set(r.uid, r);
      add(used, r);
      accepted.push(pod);
    } else {
      rejected.push(pod);
    }
  }
  return { entries: [...entries.values()], accepted, rejected };
}

function bound(pod: Pod, nodeName: string, time: string): Pod {
  const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
  return {
    ...pod,
    spec: { ...pod.spec, nodeName },
    status: {
      ...pod.status,
      phase: pod.status?.phase ?? 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: time }, ...conditions],
    },
  };
}

interface Used {
  cpu: number;
  mem: number;
  pods: number;
  ports: Set<string>;
  other: Record<string, number>;
}

function sum(entries: Iterable<Reservation>): Used {
  const used: Used = { cpu: 0, mem: 0, pods: 0, ports: new Set(), other: {} };
  for (const r of entries) add(used, r);
  return used;
}

function add(used: Used, r: Reservation): void {
  used.cpu += r.cpu;
  used.mem += r.mem;
  used.pods += 1;
  if (r.other) addOther(used.other, r.other);
  for (const p of r.hostPorts ?? []) used.ports.add(p);
}

function fits(info: NodeInfo, used: Used, r: Reservation): boolean {
  if (used.pods + 1 > info.allocPods) return false;
  if (r.cpu > 0 && used.cpu + r.cpu > info.allocCpu) return false;
  if (r.mem > 0 && used.mem + r.mem > info.allocMem) return false;
  if (r.other && insufficient(r.other, used.other, info.allocOther)) return false;
  return !(r.hostPorts ?? []).some((p) => used.ports.has(p));
}
