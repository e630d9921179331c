/**
 * The controller manager's declared list, in order (manager.ts runs it: the per-round controllers
 * repeat over one snapshot while they write; the once-per-pass ones follow). Why this order:
 * deployment -> replicaset make the pods, the scheduler binds them, node-lifecycle removes what
 * dead nodes held, endpoints and load-balancer follow where pods run, gc collects orphans last;
 * node-port-repair, resource-quota and nodepool sweep or call clouds, so they run once per pass.
 */
import type { CloudProvider } from '../../providers/types';
import { refreshQuotaStatus } from '../admission';
import { schedulePass } from '../scheduler';
import { RESERVATION_TTL_MS } from '../scheduler/allocation';
import type { Controller, PassContext } from './controller';
import { reconcileCronJobs } from './cronjob';
import { reconcileDeployments } from './deployment';
import { reconcileEndpoints } from './endpoints';
import { collectGarbage } from './gc';
import { reconcileJobs } from './job';
import { reconcileLoadBalancers } from './load-balancer';
import { type NodeLifecycleOptions, type newNodeLifecycleState, reconcileNodes } from './node-lifecycle';
import { repairNodePorts } from './node-port-repair';
import { type NodePoolOptions, reconcileNodePools } from './nodepool';
import { reconcileReplicaSets } from './replicaset';

/** The declared list, in order. */
export function declaredControllers(
  lifecycle: NodeLifecycleOptions,
  lifecycleState: ReturnType<typeof newNodeLifecycleState>,
  options: { provider?: CloudProvider; nodePools?: NodePoolOptions },
): Controller[] {
  const pools = options.nodePools;
  return [
    { name: 'deployment', run: (ctx) => reconcileDeployments(ctx.deps, ctx) },
    { name: 'replicaset', run: (ctx) => reconcileReplicaSets(ctx.deps, ctx) },
    { name: 'cronjob', run: (ctx) => reconcileCronJobs(ctx.deps, ctx) },
    { name: 'job', run: (ctx) => reconcileJobs(ctx.deps, ctx) },
    {
      name: 'scheduler',
      run: async (ctx) => {
        const result = await schedulePass(ctx.deps, {}, ctx.snapshot);
        // Pods left pending may fit once a lost pass's reservations expire, with no write to say so.
        if (result.unschedulable > 0 || result.conflicts > 0) ctx.wakeAt(ctx.deps.clock() + RESERVATION_TTL_MS);
      },
    },
    { name: 'node-lifecycle', run: (ctx) => reconcileNodes(ctx, lifecycle, lifecycleState) },
    // These read through the pass store, which answers lists from the snapshot.
    { name: 'endpoints', run: (ctx) => reconcileEndpoints(ctx.deps) },
    { name: 'load-balancer', run: (ctx) => reconcileLoadBalancers(ctx.deps, options.provider, options.nodePools) },
    { name: 'gc', run: (ctx) => collectGarbage(ctx.deps, ctx.snapshot) },
    { name: 'node-port-repair', oncePerPass: true, run: (ctx) => repairNodePorts(ctx.deps, ctx) },
    // The quota controller's resync: status.used after deletes the API did not see.
    { name: 'resource-quota', oncePerPass: true, run: (ctx) => refreshQuotaStatus(ctx.deps) },
    ...(pools
      ? [
          {
            name: 'nodepool',
            oncePerPass: true,
            run: async (ctx: PassContext) => {
              await reconcileNodePools(ctx.deps, pools);
              // Machines change in the cloud without a write here: look again at the next resync.
              if ((await ctx.snapshot.list('NodePool')).length > 0) ctx.wakeAt(ctx.deps.clock() + 60_000);
            },
          },
        ]
      : []),
  ];
}
