/**
 * Last step of a pass: the pool's status (nodes, readyNodes, Ready / Migrating / Degraded
 * conditions), the launch records, the Clouds it has machines in, and the churn guard's state, in
 * one write. On a conflict it starts again from the stored pool (which the conflict carries): the
 * turns of churn this pass saw are added to what is stored, never lost to a concurrent pass.
 */
import type { NodePool } from '../../../schemas';
import { type Condition, setCondition } from '../../../schemas/conditions';
import { isoTime } from '../../../schemas/time';
import { isNotFound } from '../../errors';
import { recordEventOnce } from '../../events';
import { retryOnConflict } from '../../store/retry';
import { sameJson } from '../util';
import { churnOf, nextChurn } from './churn';
import {
  CLEAR_DEGRADED_ANNOTATION,
  currentMachines,
  generationOf,
  isNodeReady,
  type PoolPass,
  present,
  unlistedLaunches,
} from './context';

export async function writeStatus(pass: PoolPass): Promise<void> {
  const { pool, cloud, desired } = pass;
  const here = cloud.metadata.name;
  const current = currentMachines(pass);
  const ready = current.filter((m) => isNodeReady(m.node)).length;
  const leaving = present(pass).filter((m) => m.cloud !== here).length;
  const nodes = current.length + unlistedLaunches(pass).filter((l) => l.cloud === here).length;
  const settled = ready >= desired && leaving === 0 && current.length === desired;
  const conditions: Condition[] = [
    {
      type: 'Ready',
      status: ready >= desired ? 'True' : 'False',
      reason: ready >= desired ? 'NodesReady' : 'WaitingForNodes',
      message: `${ready} of ${desired} nodes Ready in Cloud "${here}"`,
    },
  ];
  if (leaving > 0)
    conditions.push({
      type: 'Migrating',
      status: 'True',
      reason: 'MovingCloud',
      message: `${leaving} node(s) left to move to Cloud "${here}"`,
    });
  const clouds = [...new Set(present(pass).map((m) => m.cloud))].filter((c) => c !== here).sort();

  let degradedNow = false;
  const write = async (fresh?: unknown): Promise<void> => {
    const base = (fresh as NodePool | undefined) ?? pass.pool;
    const generation = generationOf(base);
    const churn = nextChurn(
      churnOf(base.status?.churn, generation),
      generation,
      pass.churn,
      settled,
      pass.now,
      pass.options,
    );
    const now = isoTime(pass.now);
    const stored = (base.status?.conditions ?? []) as Condition[];
    let list = conditions.reduce<Condition[]>((all, c) => setCondition(all, c, now), stored);
    if (leaving === 0) list = list.filter((c) => c.type !== 'Migrating');
    const autoscaled = base.spec.autoscaling?.enabled === true;
    if (autoscaled && pass.autoscalerConditions)
      list = pass.autoscalerConditions.reduce<Condition[]>((all, c) => setCondition(all, c, now), list);
    if (!autoscaled) list = list.filter((c) => c.type !== 'ScaleUp' && c.type !== 'ScaleDown');
    if (churn?.degraded)
      list = setCondition(
        list,
        { type: 'Degraded', status: 'True', reason: churn.reason ?? 'Churn', message: degradedMessage(churn.message) },
        now,
      );
    else list = list.filter((c) => c.type !== 'Degraded');
    degradedNow = !!churn?.degraded && !base.status?.churn?.degraded;
    // Launches recorded by a concurrent pass since this one read the pool are kept.
    const mine = new Set(pass.launches.map((l) => l.name));
    const launches = [
      ...pass.launches,
      ...(base.status?.launches ?? []).filter((l) => !mine.has(l.name) && !pass.launchesRead.has(l.name)),
    ];
    const status: NonNullable<NodePool['status']> = {
      nodes,
      readyNodes: ready,
      observedGeneration: generation,
      conditions: list,
      ...(launches.length > 0 ? { launches } : {}),
      ...(clouds.length > 0 ? { clouds } : {}),
      ...(churn ? { churn } : {}),
      // The autoscaler's record is written by its own step (autoscale.ts); gone once it is disabled.
      ...(autoscaled && base.status?.autoscaling ? { autoscaling: base.status.autoscaling } : {}),
    };
    if (sameJson(status, base.status)) return;
    pass.pool = await pass.deps.store.update({ ...base, status });
  };
  try {
    await retryOnConflict(write);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return;
  }
  if (degradedNow) {
    const churn = pass.pool.status?.churn;
    await recordEventOnce(
      pass.deps,
      pool,
      'Warning',
      'Degraded',
      `stopped creating nodes after ${churn?.strikes} turn(s) of churn (${churn?.reason}): ${churn?.message}`,
    );
  }
}

function degradedMessage(message: string | undefined): string {
  return `${message ?? 'machines churned'}; no node is created until the spec changes or the annotation ${CLEAR_DEGRADED_ANNOTATION} is set`;
}
