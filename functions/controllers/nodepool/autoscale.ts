/**
 * The autoscaler's step of a pool's pass (after discovery and finished retirements, before scale-up):
 * the plan's decision for this pool is recorded in `status.autoscaling` first, in a write that
 * carries the resourceVersion the pass read (of two passes racing, one records and acts, the other
 * gets a conflict and keeps the stored target), then acted on: the pool's desired count becomes the
 * decided target, which scale-up.ts makes within maxSurge and the churn guard, and a node the
 * autoscaler found unneeded is retired the drained way (retire.ts). Events say what was decided:
 * on the pool, on each pod a scale-up is for (TriggeredScaleUp) and on a node being removed.
 */
import type { NodePool, NodePoolAutoscalingStatus } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { isConflict } from '../../errors';
import { type EventRecord, recordEvent, recordEvents } from '../../events';
import { storedAfter } from '../../store/retry';
import { AUTOSCALER_SOURCE, type Decision } from '../autoscaler';
import { sameJson } from '../util';
import { autoscaledTarget } from './autoscale-groups';
import { isRetiring, type PoolPass } from './context';
import { startRetiring } from './retire';

export async function autoscale(pass: PoolPass, decision: Decision | undefined): Promise<void> {
  const { pool, deps } = pass;
  if (!pool.spec.autoscaling?.enabled) return;
  pass.desired = autoscaledTarget(pool);
  if (!decision || pass.ambiguous) return;
  const machine = decision.remove
    ? pass.machines.find((m) => m.node?.metadata.name === decision.remove?.node && !isRetiring(m))
    : undefined;
  // A removal whose machine this pass does not see (not listed, already retiring) waits for the next pass.
  const remove = machine ? decision.remove : undefined;
  const target = decision.target + (decision.remove && !remove ? 1 : 0);
  const before = pool.status?.autoscaling;
  const now = isoTime(pass.now);
  const state: NodePoolAutoscalingStatus = {
    desiredNodes: target,
    ...(decision.added > 0
      ? { lastScaleUpTime: now }
      : before?.lastScaleUpTime
        ? { lastScaleUpTime: before.lastScaleUpTime }
        : {}),
    ...(remove
      ? { lastScaleDownTime: now }
      : before?.lastScaleDownTime
        ? { lastScaleDownTime: before.lastScaleDownTime }
        : {}),
    ...(decision.unneeded.length > 0 ? { unneeded: decision.unneeded } : {}),
  };
  if (!sameJson(state, before)) {
    try {
      pass.pool = await deps.store.update<NodePool>({
        ...pass.pool,
        status: { ...pass.pool.status, autoscaling: state },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Another pass decided first: this one acts on nothing, but keeps to that decision's count,
      // so its scale-down step does not retire what the other just made (and its scale-up's
      // record of launches, written with the resourceVersion read, conflicts and creates nothing).
      const fresh = await storedAfter<NodePool>(deps.store, { kind: 'NodePool', name: pool.metadata.name }, err);
      if (fresh?.spec.autoscaling?.enabled) pass.desired = autoscaledTarget(fresh);
      return;
    }
  }
  pass.desired = target;
  pass.autoscalerConditions = decision.conditions;
  if (decision.added > 0) pass.zoneHints = decision.zones;
  const from = target - decision.added;

  if (decision.added > 0) {
    const max = pool.spec.maxNodes;
    const message = `pod triggered scale-up: [{${pool.metadata.name} ${from}->${target} (max: ${max})}]`;
    await recordEvent(
      deps,
      pass.pool,
      'Normal',
      'ScaledUpGroup',
      `scale-up: ${pool.metadata.name} ${from}->${target} (max: ${max}) for ${decision.triggered.length} unschedulable pod(s)`,
      AUTOSCALER_SOURCE,
    );
    const events: EventRecord[] = decision.triggered.slice(0, 100).map((pod) => ({
      involved: pod,
      type: 'Normal',
      reason: 'TriggeredScaleUp',
      message,
      source: AUTOSCALER_SOURCE,
    }));
    await recordEvents(deps, events);
  }
  if (remove && machine?.node) {
    await recordEvent(
      deps,
      machine.node,
      'Normal',
      'ScaleDown',
      `removing node ${remove.node}: ${remove.message}`,
      AUTOSCALER_SOURCE,
    );
    await recordEvent(
      deps,
      pass.pool,
      'Normal',
      'ScaleDownNode',
      `retiring ${remove.node}: ${remove.message}`,
      AUTOSCALER_SOURCE,
    );
    await startRetiring(pass, machine, 'ScaleDown');
  }
}
