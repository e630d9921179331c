/**
 * One scheduling pass: snapshot, plan every pending pod in memory, then commit the plan in two
 * store batches (reservations, then binds).
 * Safe to run twice at once (Lambda does that now and then): see allocation.ts and commit.ts.
 * Under the controller manager the nodes, pods and allocation records come from the round's
 * cluster snapshot (listed once per round for every controller); called alone it lists them.
 */
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from '../../schemas';
import { findCondition } from '../../schemas/conditions';
import { isoTime } from '../../schemas/time';
import type { Deps } from '../deps';
import { isConflict, isLostRace, isNotFound } from '../errors';
import { recordEvent } from '../events';
import type { Obj } from '../store/types';
import { Placement } from './affinity';
import { ALLOCATION_KIND, type AllocationRecord } from './allocation';
import { commitPlan } from './commit';
import { type PodContext, podContext } from './filters';
import { Preemptor } from './preemptor';
import { assume, buildSnapshot, livePodMap, type NodeInfo } from './snapshot';
import { Stack, unschedulableMessage } from './stack';
import { claimNames, VolumeBinder } from './volumes';

export interface ScheduleOptions {
  /** Record Scheduled/FailedScheduling events (default true). */
  events?: boolean;
  /**
   * Awaited before each pending pod is planned: the controllers give their slice yield
   * (controllers/controller.ts), so planning a few hundred pods over thousands of nodes lets the
   * agents' syncs in between instead of holding the event loop. The plan is a snapshot's anyway,
   * committed conditionally (commit.ts): waiting changes nothing it decides.
   */
  pause?: () => Promise<void>;
}

export interface ScheduleResult {
  bound: number;
  unschedulable: number;
  /** Allocation-record conflicts met (another pass committed on the same node). */
  conflicts: number;
}

/** Where a pass reads the cluster: the controllers' round snapshot (structurally, to keep the arrow one way). */
export interface ClusterReader {
  list<T extends Obj>(kind: string): Promise<T[]>;
}

export async function schedulePass(
  deps: Deps,
  options: ScheduleOptions = {},
  cluster?: ClusterReader,
): Promise<ScheduleResult> {
  const events = options.events ?? true;
  const snapshotAt = deps.clock();
  const read = cluster
    ? <T extends Obj>(kind: string) => cluster.list<T>(kind)
    : async <T extends Obj>(kind: string) => (await deps.store.list<T>(kind)).items;
  const [nodes, pods, records] = await Promise.all([
    read<Node>('Node'),
    read<Pod>('Pod'),
    read<AllocationRecord>(ALLOCATION_KIND),
  ]);
  const snapshot = buildSnapshot(nodes, pods, records, snapshotAt);
  if (snapshot.pending.length === 0) return { bound: 0, unschedulable: 0, conflicts: 0 };

  const stack = new Stack(snapshot);
  const placement = new Placement(snapshot.nodes, snapshot.byName, pods);
  const plan = new Map<NodeInfo, PodContext[]>();
  const failed: { pod: Pod; message: string; nominated?: string }[] = [];
  const preemptor = new Preemptor(snapshot.nodes, pods);
  const binder = snapshot.pending.some((p) => claimNames(p).length > 0) ? await volumeBinder(read, pods) : undefined;
  let volumeConflicts = 0;
  for (const pod of snapshot.pending) {
    await options.pause?.();
    const ctx = podContext(pod);
    const checks = placement.forPod(pod);
    if (checks) ctx.placement = checks;
    const volumes = binder?.forPod(pod);
    if (volumes?.unresolvable) {
      failed.push({ pod, message: `0/${snapshot.nodes.length} nodes are available: ${volumes.unresolvable}.` });
      continue;
    }
    if (volumes) ctx.volumes = volumes;
    const choice = stack.select(ctx);
    if (!choice.node) {
      const message = unschedulableMessage(snapshot.nodes.length, choice.reasons);
      const nominated = preemptor.consider(ctx);
      failed.push(nominated ? { pod, message, nominated } : { pod, message });
      continue;
    }
    try {
      await volumes?.reserve(deps, choice.node.node);
    } catch (err) {
      // Another writer moved the claim or the PV: the next pass sees it and tries again.
      if (!isLostRace(err)) throw err;
      volumeConflicts++;
      continue;
    }
    assume(snapshot, choice.node, pod, ctx.cpu, ctx.mem, ctx.hostPorts, ctx.other);
    placement.add(pod, choice.node);
    const list = plan.get(choice.node) ?? [];
    list.push(ctx);
    plan.set(choice.node, list);
  }

  const commitCtx = { deps, live: livePodMap(pods), snapshotAt, events };
  const committed = await commitPlan(commitCtx, plan);
  const placed = committed.bound;
  const conflicts = committed.conflicts + volumeConflicts;
  const bound = placed.length;
  await preemptor.evict(deps, events);
  for (const { pod, message, nominated } of failed) await markUnschedulable(deps, pod, message, events, nominated);
  if (bound > 0 || failed.length > 0)
    deps.log.debug('scheduling pass', { bound, unschedulable: failed.length, conflicts });
  return { bound, unschedulable: failed.length, conflicts };
}

async function volumeBinder(read: <T extends Obj>(kind: string) => Promise<T[]>, pods: Pod[]): Promise<VolumeBinder> {
  const [claims, pvs, classes] = await Promise.all([
    read<PersistentVolumeClaim>('PersistentVolumeClaim'),
    read<PersistentVolume>('PersistentVolume'),
    read<StorageClass>('StorageClass'),
  ]);
  return new VolumeBinder(claims, pvs, classes, pods);
}

/** PodScheduled=False with kube-scheduler's message; written (and evented) only when it changes. */
async function markUnschedulable(
  deps: Deps,
  pod: Pod,
  message: string,
  events: boolean,
  nominated?: string,
): Promise<void> {
  const current = findCondition(pod, 'PodScheduled');
  const sameNomination = nominated === undefined || pod.status?.nominatedNodeName === nominated;
  if (current?.status === 'False' && current.message === message && sameNomination) return;
  const time = isoTime(deps.clock());
  const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
  try {
    await deps.store.update({
      ...pod,
      status: {
        ...pod.status,
        ...(nominated ? { nominatedNodeName: nominated } : {}),
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
