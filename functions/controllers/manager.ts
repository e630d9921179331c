/**
 * The controller manager: runs the controllers and the scheduler as one ordered pass, triggered by
 * store changes (debounced) and a periodic resync, behind a store lease so only one manager acts
 * on a store at a time. A second manager on the same SQLite file takes over within the lease TTL
 * when the first dies.
 *
 * Order: deployment (ReplicaSets) -> replicaset (pods) -> scheduler (binds) -> node-lifecycle
 * (failures) -> endpoints (where Services send traffic) -> load-balancer (cloud load balancers)
 * -> gc (orphans); the rounds repeat while they still write (bounded), so one trigger carries a
 * new Deployment all the way to bound pods. Then node-port-repair, and nodepool (machines, when
 * configured) once per pass, since it calls the cloud's APIs.
 */
import { randomUUID } from 'node:crypto';
import type { CloudProvider } from '../../providers/types';
import type { Deps } from '../deps';
import { schedulePass } from '../scheduler';
import type { StateStore } from '../store/types';
import { reconcileCronJobs } from './cronjob';
import { reconcileDeployments } from './deployment';
import { reconcileEndpoints } from './endpoints';
import { collectGarbage } from './gc';
import { reconcileJobs } from './job';
import { reconcileLoadBalancers } from './load-balancer';
import { DEFAULT_NODE_LIFECYCLE, type NodeLifecycleOptions, reconcileNodes } from './node-lifecycle';
import { repairNodePorts } from './node-port-repair';
import { type NodePoolOptions, reconcileNodePools } from './nodepool';
import { reconcileReplicaSets } from './replicaset';

export interface ControllerManagerOptions {
  resyncMs?: number;
  debounceMs?: number;
  leaseTtlMs?: number;
  nodeGracePeriodMs?: number;
  podEvictionDelayMs?: number;
  /** Passes repeated per trigger while they keep writing. */
  maxRounds?: number;
  /** Makes load balancers for LoadBalancer Services; without one they stay pending. */
  provider?: CloudProvider;
  /** Runs the node pool controller (machines for NodePools); without it NodePools are not acted on. */
  nodePools?: NodePoolOptions;
}

export interface ControllerManager {
  /** One full pass (repeated while it writes); ignores the lease. */
  runOnce(): Promise<void>;
  /**
   * Takes or renews the lease and, if this manager holds it, runs one full pass: what one
   * Lambda invocation does (the local runtime's start() does it on every trigger). True if it ran.
   */
  runLeased(): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
  /** Whether this manager held the lease at its last attempt. */
  isLeader(): boolean;
}

const WRITES = new Set(['create', 'update', 'delete', 'writeBatch']);
/** Events, bookkeeping records and heartbeats do not need another pass. */
export const IGNORED_KINDS = new Set([
  'Event',
  'NodeAllocation',
  'Lease',
  'NodePortClaim',
  'LoadBalancerRecord',
  'LogRequest',
]);

export function createControllerManager(deps: Deps, options: ControllerManagerOptions = {}): ControllerManager {
  const resyncMs = options.resyncMs ?? 10_000;
  const debounceMs = options.debounceMs ?? 20;
  const leaseTtlMs = options.leaseTtlMs ?? 15_000;
  const lifecycle: NodeLifecycleOptions = {
    gracePeriodMs: options.nodeGracePeriodMs ?? DEFAULT_NODE_LIFECYCLE.gracePeriodMs,
    evictionDelayMs: options.podEvictionDelayMs ?? DEFAULT_NODE_LIFECYCLE.evictionDelayMs,
  };
  const holder = randomUUID();
  let leader = false;
  let running: Promise<void> | undefined;
  let again = false;
  let debounce: NodeJS.Timeout | undefined;
  let resync: NodeJS.Timeout | undefined;
  let renew: NodeJS.Timeout | undefined;
  let unwatch: (() => void) | undefined;
  let stopped = false;

  // Counts writes so a pass knows whether to go round again.
  let writes = 0;
  const counting = new Proxy(deps.store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (WRITES.has(String(prop))) {
        return (...args: unknown[]) => {
          writes++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  }) as StateStore;
  const passDeps: Deps = { ...deps, store: counting };

  async function pass(): Promise<void> {
    for (let round = 0; round < (options.maxRounds ?? 8); round++) {
      const before = writes;
      await step('deployment', () => reconcileDeployments(passDeps));
      await step('replicaset', () => reconcileReplicaSets(passDeps));
      await step('cronjob', () => reconcileCronJobs(passDeps));
      await step('job', () => reconcileJobs(passDeps));
      await step('scheduler', () => schedulePass(passDeps));
      await step('node-lifecycle', () => reconcileNodes(passDeps, lifecycle));
      await step('endpoints', () => reconcileEndpoints(passDeps));
      await step('load-balancer', () => reconcileLoadBalancers(passDeps, options.provider, options.nodePools));
      await step('gc', () => collectGarbage(passDeps));
      if (writes === before) break;
    }
    await step('node-port-repair', () => repairNodePorts(passDeps));
    // Once per pass, not per round: it calls the cloud's APIs.
    const pools = options.nodePools;
    if (pools) await step('nodepool', () => reconcileNodePools(passDeps, pools));
  }

  async function step(name: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      deps.log.error('controller pass failed', { controller: name, error: String((err as Error).stack ?? err) });
    }
  }

  async function leadAndPass(): Promise<boolean> {
    const was = leader;
    leader = await deps.store.acquireLease('controller-manager', holder, leaseTtlMs).catch(() => false);
    // A new leader has not seen heartbeats yet: it gives every node a grace period from now.
    if (leader && !was) lifecycle.observingSince = deps.clock();
    if (leader) await pass();
    return leader;
  }

  function trigger(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await leadAndPass();
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
  }

  return {
    runOnce: pass,
    runLeased: leadAndPass,
    isLeader: () => leader,
    start() {
      stopped = false;
      unwatch = deps.store.watch((ev) => {
        // Events, allocation bookkeeping and heartbeats do not need another pass.
        if (IGNORED_KINDS.has(ev.object.kind)) return;
        clearTimeout(debounce);
        debounce = setTimeout(trigger, debounceMs);
      });
      resync = setInterval(trigger, resyncMs);
      // Heartbeats expire with time, not with a write: check nodes every second, and renew the
      // lease well within its TTL.
      let ticks = 0;
      const renewEvery = Math.max(1, Math.floor(leaseTtlMs / 3000));
      renew = setInterval(() => {
        if (running || stopped) return;
        if (++ticks % renewEvery === 0) return trigger();
        if (leader) void step('node-lifecycle', () => reconcileNodes(passDeps, lifecycle));
      }, 1000);
      trigger();
    },
    async stop() {
      stopped = true;
      unwatch?.();
      clearTimeout(debounce);
      clearInterval(resync);
      clearInterval(renew);
      await running;
      if (leader) await deps.store.releaseLease('controller-manager', holder).catch(() => undefined);
    },
  };
}
