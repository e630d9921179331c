/**
 * The controller manager's declared list, in order (manager.ts runs it: the per-round controllers
 * repeat over one snapshot while they write; the once-per-pass ones follow). Why this order: the
 * default ServiceAccounts exist before pods are made; deployment -> replicaset, statefulset and
 * daemonset make the pods, the scheduler binds them, volumes provisions the claims it placed,
 * node-lifecycle removes what dead nodes held, disruption recounts budgets after the pods moved,
 * endpoints, load-balancer and ingress follow where pods run, gc collects orphans, then the
 * `kubernetes` Service is made again if it went; the repairs, resource-quota, pod-tokens and
 * nodepool sweep or call clouds, so they run once per pass. service-accounts, ingress and
 * kubernetes-service name the kinds they act on (`triggers`) and run only after such writes (due.ts).
 */
import type { CloudProvider } from '../../providers/types';
import { refreshQuotaStatus } from '../admission';
import { ensureKubernetesService, type KubernetesServiceRanges } from '../kubernetes-service';
import { schedulePass } from '../scheduler';
import { RESERVATION_TTL_MS } from '../scheduler/allocation';
import { repairClusterIPs } from './cluster-ip-repair';
import { type Controller, type PassContext, yieldSlice } from './controller';
import { reconcileCronJobs } from './cronjob';
import { reconcileDaemonSets } from './daemonset';
import { reconcileDeployments } from './deployment';
import { reconcileDisruptionBudgets } from './disruption';
import { reconcileEndpoints } from './endpoints';
import { collectGarbage } from './gc';
import { type HpaState, reconcileHpas } from './hpa';
import { reconcileIngresses } from './ingress';
import { reconcileJobs } from './job';
import { reconcileLoadBalancers } from './load-balancer';
import { type NodeLifecycleOptions, type newNodeLifecycleState, reconcileNodes } from './node-lifecycle';
import { repairNodePorts } from './node-port-repair';
import { type NodePoolOptions, reconcileNodePools } from './nodepool';
import { reconcileReplicaSets } from './replicaset';
import { ensureDefaultServiceAccounts, podTokenSweeper } from './service-accounts';
import { reconcileStatefulSets } from './statefulset';
import { reconcileVolumes } from './volumes';

/** How soon a failed provider call of a triggered controller is tried again. */
const PROVIDER_RETRY_MS = 10_000;

/** The declared list, in order. */
export function declaredControllers(
  lifecycle: NodeLifecycleOptions,
  lifecycleState: ReturnType<typeof newNodeLifecycleState>,
  options: { provider?: CloudProvider; nodePools?: NodePoolOptions; kubernetesService?: KubernetesServiceRanges },
  hpaState: HpaState,
): Controller[] {
  const pools = options.nodePools;
  const ranges = options.kubernetesService;
  return [
    // First: a namespace's pods (made below) run as its `default` ServiceAccount.
    {
      name: 'service-accounts',
      triggers: new Set(['Namespace', 'ServiceAccount']),
      run: (ctx) => ensureDefaultServiceAccounts(ctx.deps, ctx),
    },
    // Before the workloads: a rescale is carried to pods in the same round.
    { name: 'horizontal-pod-autoscaler', run: (ctx) => reconcileHpas(ctx, hpaState) },
    { name: 'deployment', run: (ctx) => reconcileDeployments(ctx.deps, ctx) },
    { name: 'replicaset', run: (ctx) => reconcileReplicaSets(ctx.deps, ctx) },
    { name: 'statefulset', run: (ctx) => reconcileStatefulSets(ctx.deps, ctx) },
    { name: 'daemonset', run: (ctx) => reconcileDaemonSets(ctx) },
    { name: 'cronjob', run: (ctx) => reconcileCronJobs(ctx.deps, ctx) },
    { name: 'job', run: (ctx) => reconcileJobs(ctx.deps, ctx) },
    {
      name: 'scheduler',
      run: async (ctx) => {
        const result = await schedulePass(ctx.deps, { pause: yieldSlice }, ctx.snapshot);
        ctx.deps.metrics?.schedulingAttempts(result.bound, result.unschedulable, result.conflicts);
        // Pods left pending may fit once a lost pass's reservations expire, with no write to say so.
        if (result.unschedulable > 0 || result.conflicts > 0) ctx.wakeAt(ctx.deps.clock() + RESERVATION_TTL_MS);
      },
    },
    // After the scheduler: claims it gave a node are provisioned there in the same round.
    { name: 'volumes', run: (ctx) => reconcileVolumes(ctx) },
    { name: 'node-lifecycle', run: (ctx) => reconcileNodes(ctx, lifecycle, lifecycleState) },
    // After the pods moved this round: what each PodDisruptionBudget allows the next eviction.
    { name: 'disruption', run: (ctx) => reconcileDisruptionBudgets(ctx) },
    // These read through the pass store, which answers lists from the snapshot.
    {
      name: 'endpoints',
      run: async (ctx) => {
        // A route fan-out spaced in a large cluster (service-routes.ts): a pass then sends it.
        const fanOutDueAt = await reconcileEndpoints(ctx.deps);
        if (fanOutDueAt !== undefined) ctx.wakeAt(fanOutDueAt);
      },
    },
    { name: 'load-balancer', run: (ctx) => reconcileLoadBalancers(ctx.deps, options.provider, options.nodePools) },
    // After writes of what it reads: the classes and Ingresses, their TLS Secrets, and Nodes (the
    // load balancer's targets, the addresses in status). Not Services or Endpoints: the table names
    // backends, which each node's ingress resolves through its service routes. It calls the
    // provider only when the nodes behind the ingress' load balancer change.
    {
      name: 'ingress',
      triggers: new Set(['Ingress', 'IngressClass', 'Secret', 'Node']),
      run: (ctx) =>
        reconcileIngresses(ctx.deps, {
          ...(options.provider ? { provider: options.provider } : {}),
          ...(pools?.cluster ? { cluster: pools.cluster } : {}),
          retryLater: () => ctx.wakeAt(ctx.deps.clock() + PROVIDER_RETRY_MS),
        }),
    },
    { name: 'gc', run: (ctx) => collectGarbage(ctx.deps, ctx.snapshot) },
    // Last in the round: a `kubernetes` Service another writer deleted or changed (no API request
    // to repair it) is back by the next round, as kube-apiserver's controller makes it again; one
    // get, answered by the snapshot.
    ...(ranges
      ? [
          {
            name: 'kubernetes-service',
            triggers: new Set(['Service']),
            run: (ctx: PassContext) => ensureKubernetesService(ctx.deps, ranges),
          },
        ]
      : []),
    { name: 'node-port-repair', oncePerPass: true, run: (ctx) => repairNodePorts(ctx.deps, ctx) },
    { name: 'cluster-ip-repair', oncePerPass: true, run: (ctx) => repairClusterIPs(ctx.deps, ctx) },
    // The quota controller's resync: status.used after deletes the API did not see.
    { name: 'resource-quota', oncePerPass: true, run: (ctx) => refreshQuotaStatus(ctx.deps) },
    { name: 'pod-tokens', oncePerPass: true, run: podTokenSweeper() },
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
