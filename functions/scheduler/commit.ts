/**
 * Commits one node's share of a pass's plan: reserve on the node's allocation record (one
 * conditional write), then bind each pod (one conditional write each). On a record conflict the
 * fresh record is re-read and the planned pods re-checked against it; pods that no longer fit
 * are left pending for the next pass. See allocation.ts for why this never over-commits.
 */
import type { Pod } from '../../schemas';
import type { Deps } from '../deps';
import { isAlreadyExists, isConflict, isNotFound } from '../errors';
import { recordEvent } from '../events';
import {
  ALLOCATION_KIND,
  type AllocationRecord,
  newRecord,
  pruneEntries,
  type Reservation,
  reservationOf,
} from './allocation';
import type { NodeInfo } from './snapshot';

export interface CommitContext {
  deps: Deps;
  live: Map<string, string>;
  snapshotAt: number;
  events: boolean;
}

export interface NodeCommitResult {
  bound: Pod[];
  /** Planned pods that did not fit the fresh record or lost their bind: still pending. */
  leftover: Pod[];
  conflicts: number;
}

const MAX_ATTEMPTS = 4;

export async function commitNode(ctx: CommitContext, info: NodeInfo, planned: Pod[]): Promise<NodeCommitResult> {
  const { deps } = ctx;
  const now = deps.clock();
  let record: AllocationRecord | undefined = info.record;
  let conflicts = 0;
  let accepted: Pod[] = [];
  let leftover: Pod[] = [];
  for (let attempt = 0; ; attempt++) {
    const entries = pruneEntries(record?.spec.pods ?? {}, info.name, ctx.live, ctx.snapshotAt, now);
    // Bound pods of this node count even if the record does not list them yet.
    for (const [uid, r] of info.entries) if (ctx.live.get(uid) === info.name && !entries[uid]) entries[uid] = r;
    accepted = [];
    leftover = [];
    const used = sum(entries);
    for (const pod of planned) {
      const r = reservationOf(pod, now);
      if (fits(info, used, r)) {
        entries[pod.metadata.uid as string] = r;
        add(used, r);
        accepted.push(pod);
      } else {
        leftover.push(pod);
      }
    }
    if (accepted.length === 0) return { bound: [], leftover, conflicts };
    const next: AllocationRecord = { ...(record ?? newRecord(info.name)), spec: { pods: entries } };
    try {
      record = record ? await deps.store.update(next) : await deps.store.create(next);
      break;
    } catch (err) {
      if (!isConflict(err) && !isAlreadyExists(err)) throw err;
      conflicts++;
      if (attempt + 1 >= MAX_ATTEMPTS) return { bound: [], leftover: planned, conflicts };
      record = await deps.store.get<AllocationRecord>({ kind: ALLOCATION_KIND, name: info.name });
    }
  }
  const bound: Pod[] = [];
  for (const pod of accepted) {
    if (await bind(ctx, pod, info.name)) bound.push(pod);
    else leftover.push(pod);
  }
  return { bound, leftover, conflicts };
}

async function bind(ctx: CommitContext, pod: Pod, nodeName: string): Promise<boolean> {
  const { deps } = ctx;
  const time = new Date(deps.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
  const next: Pod = {
    ...pod,
    spec: { ...pod.spec, nodeName },
    status: {
      ...pod.status,
      phase: pod.status?.phase ?? 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: time }, ...conditions],
    },
  };
  try {
    // Conditional on the pod's resourceVersion: a pod bound (or changed) by anyone since the
    // snapshot is left alone, so no pod is ever bound twice.
    await deps.store.update(next);
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) return false;
    throw err;
  }
  if (ctx.events) {
    await recordEvent(
      deps,
      pod,
      'Normal',
      'Scheduled',
      `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${nodeName}`,
      {
        component: 'default-scheduler',
      },
    );
  }
  return true;
}

interface Used {
  cpu: number;
  mem: number;
  pods: number;
  ports: Set<string>;
}

function sum(entries: Record<string, Reservation>): Used {
  const used: Used = { cpu: 0, mem: 0, pods: 0, ports: new Set() };
  for (const r of Object.values(entries)) add(used, r);
  return used;
}

function add(used: Used, r: Reservation): void {
  used.cpu += r.cpu;
  used.mem += r.mem;
  used.pods += 1;
  for (const p of r.hostPorts ?? []) used.ports.add(p);
}

function fits(info: NodeInfo, used: Used, r: Reservation): boolean {
  if (used.pods + 1 > info.allocPods) return false;
  if (r.cpu > 0 && used.cpu + r.cpu > info.allocCpu) return false;
  if (r.mem > 0 && used.mem + r.mem > info.allocMem) return false;
  return !(r.hostPorts ?? []).some((p) => used.ports.has(p));
}
