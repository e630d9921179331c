/**
 * One scheduling pass: snapshot, plan every pending pod in memory, then commit the plan in two
 * store batches (reservations, then binds).
 * Safe to run twice at once (Lambda does that now and then): see allocation.ts and commit.ts.
 */
import type { Node, Pod } from '../../schemas';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { recordEvent } from '../events';
import { Placement } from './affinity';
import { ALLOCATION_KIND, type AllocationRecord } from './allocation';
import { commitPlan } from './commit';
import { type PodContext, podContext } from './filters';
import { assume, buildSnapshot, livePodMap, type NodeInfo } from './snapshot';
import { Stack, unschedulableMessage } from './stack';

export interface ScheduleOptions {
  /** Record Scheduled/FailedScheduling events (default true). */
  events?: boolean;
}

export interface ScheduleResult {
  bound: number;
  unschedulable: number;
  /** Allocation-record conflicts met (another pass committed on the same node). */
  conflicts: number;
}

export async function schedulePass(deps: Deps, options: ScheduleOptions = {}): Promise<ScheduleResult> {
  const events = options.events ?? true;
  const snapshotAt = deps.clock();
  const [nodes, pods, records] = await Promise.all([
    deps.store.list<Node>('Node'),
    deps.store.list<Pod>('Pod'),
    deps.store.list<AllocationRecord>(ALLOCATION_KIND),
  ]);
  const snapshot = buildSnapshot(nodes.items, pods.items, records.items, snapshotAt);
  if (snapshot.pending.length === 0) return { bound: 0, unschedulable: 0, conflicts: 0 };

  const stack = new Stack(snapshot);
  const placement = new Placement(snapshot.nodes, snapshot.byName, pods.items);
  const plan = new Map<NodeInfo, PodContext[]>();
  const failed: { pod: Pod; message: string }[] = [];
  for (const pod of snapshot.pending) {
    const ctx = podContext(pod);
    const checks = placement.forPod(pod);
    if (checks) ctx.placement = checks;
    const choice = stack.select(ctx);
    if (!choice.node) {
      failed.push({ pod, message: unschedulableMessage(snapshot.nodes.length, choice.reasons) });
      continue;
    }
    assume(snapshot, choice.node, pod, ctx.cpu, ctx.mem, ctx.hostPorts);
    placement.add(pod, choice.node);
    const list = plan.get(choice.node) ?? [];
    list.push(ctx);
    plan.set(choice.node, list);
  }

  const commitCtx = { deps, live: livePodMap(pods.items), snapshotAt, events };
  const { bound: placed, conflicts } = await commitPlan(commitCtx, plan);
  const bound = placed.length;
  for (const { pod, message } of failed) await markUnschedulable(deps, pod, message, events);
  if (bound > 0 || failed.length > 0)
    deps.log.debug('scheduling pass', { bound, unschedulable: failed.length, conflicts });
  return { bound, unschedulable: failed.length, conflicts };
}

/** PodScheduled=False with kube-scheduler's message; written (and evented) only when it changes. */
async function markUnschedulable(deps: Deps, pod: Pod, message: string, events: boolean): Promise<void> {
  const current = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (current?.status === 'False' && current.message === message) return;
  const time = new Date(deps.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
  try {
    await deps.store.update({
      ...pod,
      status: {
        ...pod.status,
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: time },
          ...conditions,
        ],
      },
    });
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) return;
    throw err;
  }
  if (events) await recordEvent(deps, pod, 'Warning', 'FailedScheduling', message, { component: 'default-scheduler' });
}
