/**
 * The node pool controller of the cloud-controller-manager: keeps each NodePool's machines at its
 * desired count in the Cloud it names, and moves the pool when `spec.cloud` changes, which is how a
 * user takes a cluster to another provider: edit one field.
 *
 * A pass over a pool is an ordered list of sub-reconcilers, one file each, composed here (as
 * Karpenter's `nodeclaim/lifecycle/controller.go` composes its own); every step is safe to repeat,
 * and to run twice at once (Lambda does):
 * 1. `clearDegraded` — a changed spec, or the `ferry.dev/clear-degraded` annotation, lifts the churn guard;
 * 2. `discoverMachines` — each Cloud's machines, listed by their Cloud uid tag (discover.ts);
 * 3. `finishRetirements` — machines whose drain is done are deleted, with their Node (retire.ts);
 * 4. `expireUnregistered` — machines not registered by the deadline are deleted: churn (retire.ts);
 * 5. `autoscale` — for an autoscaled pool, the cluster autoscaler's decision (planned over every
 *    pool first: ../autoscaler/) recorded, then the desired count set and an unneeded node retired (autoscale.ts);
 * 6. `scaleUp` — create up to the desired count, within desired + maxSurge, the back-off and the
 *    pass's bound on new machines over every pool (scale-up.ts);
 * 7. `scaleDown` — retire surplus and old-Cloud machines, maxUnavailable at a time (scale-down.ts);
 * 8. `ensureTaints` — the pool's taints on its nodes (taints.ts);
 * 9. `writeStatus` — conditions, launches, churn state, in one conflict-safe write (status.ts).
 * Discovery comes first so every later step sees one listing; retirements finish before creating
 * so the room they free counts in this pass; status is last so it reports what the pass did.
 */
import type { Cloud, Node, NodePool } from '../../../schemas';
import type { Deps } from '../../deps';
import { isConflict } from '../../errors';
import { recordEvent, recordEventOnce } from '../../events';
import { AUTOSCALER_SOURCE, type Decision, LIMIT_DEFAULTS, planAutoscaling } from '../autoscaler';
import { autoscale } from './autoscale';
import { readAutoscalerInput } from './autoscale-groups';
import { cloudConfig } from './cloud-config';
import { CLEAR_DEGRADED_ANNOTATION, generationOf, type NodePoolOptions, POOL_LABEL, type PoolPass } from './context';
import { discoverMachines } from './discover';
import { expireUnregistered, finishRetirements } from './retire';
import { scaleDown } from './scale-down';
import { scaleUp } from './scale-up';
import { writeStatus } from './status';
import { ensureTaints } from './taints';

export {
  CLEAR_DEGRADED_ANNOTATION,
  CLOUD_LABEL,
  DEFAULTS as NODE_POOL_DEFAULTS,
  type NodePoolOptions,
  POOL_LABEL,
  RETIRING_ANNOTATION,
} from './context';

export async function reconcileNodePools(deps: Deps, options: NodePoolOptions): Promise<void> {
  const pools = (await deps.store.list<NodePool>('NodePool')).items;
  if (pools.length === 0) return;
  const clouds = new Map((await deps.store.list<Cloud>('Cloud')).items.map((c) => [c.metadata.name, c]));
  const nodes = (await deps.store.list<Node>('Node')).items;
  const decisions = await planAutoscaler(deps, options, pools, clouds, nodes);
  // One bound on machines created, over every pool together (settings.ts says why this many).
  const budget = { creates: { ...LIMIT_DEFAULTS, ...options.autoscaler }.maxNewNodesPerPass };
  for (const pool of pools) {
    try {
      await reconcilePool(deps, options, pool, clouds, nodes, decisions.get(pool.metadata.name), budget);
    } catch (err) {
      await recordEventOnce(deps, pool, 'Warning', 'ReconcileFailed', String((err as Error).message ?? err));
      deps.log.warn('node pool pass failed', { pool: pool.metadata.name, error: String(err) });
    }
  }
}

async function reconcilePool(
  deps: Deps,
  options: NodePoolOptions,
  given: NodePool,
  clouds: Map<string, Cloud>,
  allNodes: Node[],
  decision: Decision | undefined,
  budget: PoolPass['budget'],
): Promise<void> {
  const pool = await clearDegraded(deps, given);
  if (!pool) return; // lost a race with another writer: the next pass sees its write
  const spec = pool.spec;
  const cloud = clouds.get(spec.cloud);
  if (!cloud) {
    await writeCloudNotFound(deps, pool);
    return;
  }
  const pass: PoolPass = {
    deps,
    options,
    now: deps.clock(),
    pool,
    cloud,
    provider: await options.providerFor(await cloudConfig(deps, cloud)),
    desired: Math.min(
      Math.max(spec.desiredNodes ?? spec.minNodes ?? 0, spec.minNodes ?? 0),
      spec.maxNodes ?? Number.POSITIVE_INFINITY,
    ),
    nodes: new Map(
      allNodes.filter((n) => n.metadata.labels?.[POOL_LABEL] === pool.metadata.name).map((n) => [n.metadata.name, n]),
    ),
    cloudNames: new Set([cloud.metadata.name]),
    machines: [],
    gone: new Set(),
    launches: [],
    launchesRead: new Set((pool.status?.launches ?? []).map((l) => l.name)),
    churn: [],
    ambiguous: false,
    budget,
  };
  await discoverMachines(pass, clouds);
  await finishRetirements(pass);
  await expireUnregistered(pass);
  await autoscale(pass, decision);
  await scaleUp(pass);
  await scaleDown(pass);
  await ensureTaints(pass);
  await writeStatus(pass);
}

/** NotTriggerScaleUp Events a pass records at most (the first pods by priority and age). */
const MAX_NOT_TRIGGERED_EVENTS = 20;

/**
 * The cluster autoscaler's plan over every autoscaled pool (one plan: pods may fit several pools),
 * and a NotTriggerScaleUp Event on each unschedulable pod no pool could take. A plan that fails
 * leaves the pools at their recorded targets, with a Warning.
 */
async function planAutoscaler(
  deps: Deps,
  options: NodePoolOptions,
  pools: NodePool[],
  clouds: Map<string, Cloud>,
  nodes: Node[],
): Promise<Map<string, Decision>> {
  try {
    const input = await readAutoscalerInput(deps, options, pools, clouds, nodes);
    if (!input) return new Map();
    const limits = { ...LIMIT_DEFAULTS, ...options.autoscaler };
    const plan = planAutoscaling({
      ...input,
      maxNewNodesPerPass: limits.maxNewNodesPerPass,
      scaleDownParallelism: limits.maxScaleDownParallelism,
    });
    // Each is a read (is it recorded already?) on every pass the pods stay pending: a few a pass.
    for (const { pod, message } of plan.notTriggered.slice(0, MAX_NOT_TRIGGERED_EVENTS))
      await recordEventOnce(deps, pod, 'Normal', 'NotTriggerScaleUp', message, AUTOSCALER_SOURCE);
    return plan.decisions;
  } catch (err) {
    deps.log.warn('cluster autoscaler plan failed', { error: String(err) });
    for (const pool of pools.filter((p) => p.spec.autoscaling?.enabled))
      await recordEventOnce(deps, pool, 'Warning', 'AutoscalerFailed', String((err as Error).message ?? err));
    return new Map();
  }
}

/**
 * The user's way out of Degraded without a spec change: `ferry.dev/clear-degraded` on the pool
 * (any value). It is removed in the same write that forgets the churn, so it acts once.
 * Returns the pool to work on, or undefined when another writer changed it first.
 */
async function clearDegraded(deps: Deps, pool: NodePool): Promise<NodePool | undefined> {
  if (pool.metadata.annotations?.[CLEAR_DEGRADED_ANNOTATION] === undefined) return pool;
  const { [CLEAR_DEGRADED_ANNOTATION]: _cleared, ...annotations } = pool.metadata.annotations;
  const { churn: _churn, ...status } = pool.status ?? {};
  const conditions = (status.conditions ?? []).filter((c) => c.type !== 'Degraded');
  try {
    const next = await deps.store.update<NodePool>({
      ...pool,
      metadata: { ...pool.metadata, annotations },
      status: { ...status, conditions, observedGeneration: generationOf(pool) },
    });
    await recordEvent(
      deps,
      next,
      'Normal',
      'DegradedCleared',
      `${CLEAR_DEGRADED_ANNOTATION} set: creating nodes again`,
    );
    return next;
  } catch (err) {
    if (isConflict(err)) return undefined;
    throw err;
  }
}

async function writeCloudNotFound(deps: Deps, pool: NodePool): Promise<void> {
  const message = `Cloud "${pool.spec.cloud}" does not exist`;
  const status = {
    ...pool.status,
    nodes: 0,
    readyNodes: 0,
    observedGeneration: generationOf(pool),
    conditions: [{ type: 'Ready', status: 'False', reason: 'CloudNotFound', message }],
  };
  try {
    await deps.store.update({ ...pool, status });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  await recordEventOnce(deps, pool, 'Warning', 'CloudNotFound', message);
}
