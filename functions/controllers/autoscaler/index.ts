/**
 * The cluster autoscaler for NodePools (kubernetes/autoscaler's cluster-autoscaler, with a pool
 * for a node group), as one pure plan per pass over every autoscaled pool:
 *
 *   groups (node pool controller) + cluster view
 *     -> scale-up   (scale-up.ts: unschedulable pods -> template nodes -> expander -> +N per pool)
 *     -> scale-down (scale-down.ts: unneeded nodes -> after the unneeded time, one removal)
 *     -> a decision per pool: its new target, what to retire, its ScaleUp/ScaleDown conditions
 *
 * The node pool controller (nodepool/autoscale.ts) records each decision in the pool's status
 * before acting, conflict-checked, then makes or retires machines with its own guards (maxSurge,
 * the churn back-off, drained retirement). Glossary: a *group* is an autoscaled pool; a *template
 * node* is a node that is not there (yet), built from the pool; *upcoming* nodes are those the
 * pool's target counts but that have not registered.
 */
import type { Pod, PodDisruptionBudget } from '../../../schemas';
import type { Condition } from '../../../schemas/conditions';
import type { Volumes } from './drainable';
import type { Group } from './group';
import { planScaleDown, type Removal } from './scale-down';
import { planScaleUp } from './scale-up';
import type { ClusterView } from './simulator';

export { type Group, type TemplateSpec, upcoming, upcomingZones } from './group';
export {
  AUTOSCALER_SOURCE,
  type AutoscalerLimits,
  autoscalingOf,
  LIMIT_DEFAULTS,
  SAFE_TO_EVICT,
  SCALE_DOWN_DISABLED,
} from './settings';
export type { ClusterView } from './simulator';

export interface PlanInput {
  view: ClusterView;
  groups: readonly Group[];
  budgets: readonly PodDisruptionBudget[];
  volumes: Volumes;
  maxNewNodesPerPass: number;
  scaleDownParallelism: number;
  /** Nodes of autoscaled pools retiring for scale-down now. */
  retiring: number;
}

export interface Decision {
  target: number;
  /** Nodes added to the target in this pass, and the zone each goes to. */
  added: number;
  zones: string[];
  /** Node to retire (its removal lowers the target by one). */
  remove?: Removal;
  unneeded: { node: string; since: string }[];
  /** Pods the new nodes are for. */
  triggered: Pod[];
  conditions: Condition[];
}

export interface Plan {
  decisions: Map<string, Decision>;
  notTriggered: { pod: Pod; message: string }[];
}

export function planAutoscaling(input: PlanInput): Plan {
  const up = planScaleUp(input.view, input.groups, input.maxNewNodesPerPass);
  const down = planScaleDown({
    view: input.view,
    groups: input.groups,
    budgets: input.budgets,
    volumes: input.volumes,
    scaledUp: up.add.size > 0,
    retiring: input.retiring,
    parallelism: input.scaleDownParallelism,
  });
  const decisions = new Map<string, Decision>();
  for (const g of input.groups) {
    const added = up.add.get(g.name) ?? 0;
    const remove = down.removals.find((r) => r.group === g.name);
    const target = g.target + added - (remove ? 1 : 0);
    const triggered = up.triggered.filter((t) => t.group === g.name).map((t) => t.pod);
    const unneeded = (down.unneeded.get(g.name) ?? []).filter((u) => u.node !== remove?.node);
    decisions.set(g.name, {
      target,
      added,
      zones: up.zones.get(g.name) ?? [],
      ...(remove ? { remove } : {}),
      unneeded,
      triggered,
      conditions: [
        scaleUpCondition(g, added, triggered.length, up.atMax.has(g.name)),
        scaleDownCondition(g, remove, unneeded, down.needed.get(g.name) ?? []),
      ],
    });
  }
  return { decisions, notTriggered: up.notTriggered };
}

function scaleUpCondition(g: Group, added: number, pods: number, atMax: boolean): Condition {
  if (added > 0)
    return {
      type: 'ScaleUp',
      status: 'True',
      reason: 'InProgress',
      message: `${pods} unschedulable pod(s) need ${added} more node(s): ${g.target} -> ${g.target + added} (max ${g.max})`,
    };
  if (g.hold) return { type: 'ScaleUp', status: 'False', reason: 'Backoff', message: `not growing: ${g.hold}` };
  if ('unknown' in g.template)
    return { type: 'ScaleUp', status: 'False', reason: 'UnknownTemplate', message: g.template.unknown };
  if (atMax || (g.target >= g.max && g.nodes.length >= g.max))
    return {
      type: 'ScaleUp',
      status: 'False',
      reason: 'MaxNodesReached',
      message: `at maxNodes (${g.max}): unschedulable pods that fit this pool stay pending`,
    };
  const coming = Math.max(0, g.target - g.nodes.length);
  if (coming > 0)
    return {
      type: 'ScaleUp',
      status: 'True',
      reason: 'InProgress',
      message: `waiting for ${coming} node(s) to register (target ${g.target})`,
    };
  return {
    type: 'ScaleUp',
    status: 'False',
    reason: 'NoActivity',
    message: 'no unschedulable pod needs a new node of this pool',
  };
}

function scaleDownCondition(
  g: Group,
  remove: Removal | undefined,
  unneeded: { node: string; since: string }[],
  needed: string[],
): Condition {
  if (remove)
    return {
      type: 'ScaleDown',
      status: 'True',
      reason: 'ScaleDown',
      message: `retiring ${remove.node}: ${remove.message}`,
    };
  const why = needed.slice(0, 5).join('; ') + (needed.length > 5 ? `; and ${needed.length - 5} more` : '');
  if (unneeded.length > 0) {
    const list = unneeded.map((u) => `${u.node} since ${u.since}`).join(', ');
    return {
      type: 'ScaleDown',
      status: 'True',
      reason: 'CandidatesPresent',
      message: `unneeded: ${list} (retired after ${g.settings.unneededMs / 1000} s unneeded, one at a time, never below minNodes ${g.min})${needed.length ? `; needed: ${why}` : ''}`,
    };
  }
  return {
    type: 'ScaleDown',
    status: 'False',
    reason: 'NoCandidates',
    message: needed.length ? `every node is needed: ${why}` : 'no node to consider',
  };
}
