/**
 * A deterministic simulation of a ferry cluster: fake clock, memory store, the real controller
 * manager and scheduler, and simulated nodes that play the agent (heartbeat Lease, report bound
 * pods Running/Ready after a delay, finish terminating pods). Failures are injected by stopping a
 * node's heartbeat, crashing a pod, or making the store refuse the next writes of a kind.
 */
import {
  type ControllerManager,
  type ControllerManagerOptions,
  createControllerManager,
} from '../../../functions/controllers/manager';
import type { Deps } from '../../../functions/deps';
import { ConflictError } from '../../../functions/errors';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import { refOf } from '../../../functions/store/object-meta';
import type { Obj, StateStore } from '../../../functions/store/types';
import type { CronJob, Deployment, Job, Lease, Node, Pod } from '../../../schemas';
import { applyDefaults } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { makeNode, type NodeOptions } from '../../helpers/objects';

export interface SimOptions {
  /** How long a bound pod takes to become Running and Ready. */
  startDelayMs?: number;
  /** How long a terminating pod takes to stop. */
  stopDelayMs?: number;
  nodeGracePeriodMs?: number;
  podEvictionDelayMs?: number;
  /** Eviction limits passed to the controller manager (Kubernetes' defaults when omitted). */
  eviction?: ControllerManagerOptions['eviction'];
  /** Runs the node pool controller (and the cluster autoscaler) with these options. */
  nodePools?: ControllerManagerOptions['nodePools'];
}

interface SimNode {
  name: string;
  alive: boolean;
}

export class Simulation {
  now = 1_700_000_000_000;
  readonly store: MemoryStore;
  readonly deps: Deps;
  readonly manager: ControllerManager;
  readonly nodes = new Map<string, SimNode>();
  private readonly agents: SimulatedAgents;
  private readonly failWrites = new Map<string, number>();

  constructor(options: SimOptions = {}) {
    this.store = new MemoryStore(() => this.now);
    const store = this.faulty(this.store);
    this.deps = { store, clock: () => this.now, log: silentLogger };
    this.agents = new SimulatedAgents(this.store, () => this.now, options);
    this.manager = createControllerManager(this.deps, {
      nodeGracePeriodMs: options.nodeGracePeriodMs ?? 10_000,
      podEvictionDelayMs: options.podEvictionDelayMs ?? 5_000,
      ...(options.eviction ? { eviction: options.eviction } : {}),
      ...(options.nodePools ? { nodePools: options.nodePools } : {}),
    });
  }

  /** The next `count` updates of `kind` fail with Conflict (a concurrent writer). */
  injectConflicts(kind: string, count: number): void {
    this.failWrites.set(kind, count);
  }

  private faulty(store: StateStore): StateStore {
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop !== 'update') return value.bind(target);
        return async (obj: Obj) => {
          const left = this.failWrites.get(obj.kind) ?? 0;
          if (left > 0) {
            this.failWrites.set(obj.kind, left - 1);
            throw new ConflictError(obj.kind, obj.metadata.name, await target.get(refOf(obj)));
          }
          return target.update(obj);
        };
      },
    });
  }

  async addNode(name: string, options: NodeOptions = {}): Promise<void> {
    await this.store.create(makeNode(name, options));
    this.nodes.set(name, { name, alive: true });
    await this.agents.heartbeat(name);
  }

  /** The node's agent dies: no more heartbeats, its pods stop being reported. */
  killNode(name: string): void {
    (this.nodes.get(name) as SimNode).alive = false;
  }

  reviveNode(name: string): void {
    (this.nodes.get(name) as SimNode).alive = true;
  }

  async apply(obj: Obj): Promise<Obj> {
    const desired = applyDefaults(obj);
    const existing = await this.store.get(refOf(desired));
    if (!existing) return this.store.create(desired);
    return this.store.update({
      ...existing,
      metadata: { ...existing.metadata, labels: desired.metadata.labels ?? {} },
      spec: desired.spec,
    });
  }

  async crashPod(name: string): Promise<void> {
    const pod = (await this.pods()).find((p) => p.metadata.name === name) as Pod;
    await this.store.update({
      ...pod,
      status: { ...pod.status, phase: 'Failed', conditions: [{ type: 'Ready', status: 'False' }] },
    });
  }

  /** Advances time in steps, running agents and the controller manager at each; calls `check` after each step. */
  async advance(ms: number, step = 500, check?: () => Promise<void>): Promise<void> {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      for (const node of this.nodes.values()) if (node.alive) await this.agents.run(node.name);
      await this.manager.runOnce();
      for (const node of this.nodes.values()) if (node.alive) await this.agents.run(node.name);
      await check?.();
    }
  }

  /**
   * The control plane stalls for `ms` (a blocked event loop, a paused VM): nothing runs, not even
   * the API that stores heartbeats. Then the controllers run first, before the agents' backlog of
   * heartbeats gets through, as a control plane catching up does.
   */
  async stall(ms: number): Promise<void> {
    this.now += ms;
    await this.manager.runOnce();
  }

  /** Advances until `done` holds or `limitMs` passes; returns the time it took. */
  async until(done: () => Promise<boolean>, limitMs = 120_000, step = 500): Promise<number> {
    const start = this.now;
    while (!(await done())) {
      if (this.now - start > limitMs) throw new Error(`simulation: condition not met within ${limitMs} ms`);
      await this.advance(step, step);
    }
    return this.now - start;
  }

  async pods(): Promise<Pod[]> {
    return (await this.store.list<Pod>('Pod')).items;
  }

  async readyPods(prefix = ''): Promise<Pod[]> {
    return (await this.pods()).filter(
      (p) =>
        p.metadata.name.startsWith(prefix) &&
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  }

  async deployment(name: string): Promise<Deployment> {
    return (await this.store.get<Deployment>({ kind: 'Deployment', namespace: 'default', name })) as Deployment;
  }

  async node(name: string): Promise<Node> {
    return (await this.store.get<Node>({ kind: 'Node', name })) as Node;
  }
}

/**
 * What a node's agent does, played against a store: heartbeat the node's Lease, report bound pods
 * Running and Ready `startDelayMs` after they are first seen, delete terminating pods
 * `stopDelayMs` after. Driven by the simulation's fake clock, or by a timer against a real
 * control plane (the CLI's `apply --wait` and `drain` tests).
 */
export const RUN_MS = 'sim.ferry.dev/run-ms';
export const EXIT_CODE = 'sim.ferry.dev/exit-code';

export class SimulatedAgents {
  private readonly boundAt = new Map<string, number>();
  private readonly terminatingAt = new Map<string, number>();
  private get now(): number {
    return this.clock();
  }

  constructor(
    private readonly store: StateStore,
    private readonly clock: () => number,
    private readonly options: Pick<SimOptions, 'startDelayMs' | 'stopDelayMs'> = {},
  ) {}

  async heartbeat(name: string): Promise<void> {
    const ref = { kind: 'Lease', namespace: 'kube-node-lease', name };
    const renewTime = new Date(this.now).toISOString();
    const lease = await this.store.get<Lease>(ref);
    if (!lease) {
      await this.store.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: name, renewTime },
      });
    } else {
      await this.store.update({ ...lease, spec: { ...lease.spec, renewTime } });
    }
  }

  /**
   * A pod annotated `sim.ferry.dev/run-ms` runs that long, then exits with `sim.ferry.dev/exit-code`
   * (default 0): Succeeded, or Failed under restartPolicy Never, or restarted (restartCount + 1)
   * under OnFailure. Other pods run until deleted.
   */
  private async finishIfDone(pod: Pod): Promise<void> {
    const runMs = pod.metadata.annotations?.[RUN_MS];
    const started = Date.parse(pod.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? '');
    if (runMs === undefined || Number.isNaN(started) || this.now - started < Number(runMs)) return;
    const exitCode = Number(pod.metadata.annotations?.[EXIT_CODE] ?? '0');
    const t = isoTime(this.now);
    const previous = pod.status?.containerStatuses?.[0];
    const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: t, finishedAt: t };
    const restart = exitCode !== 0 && pod.spec.restartPolicy === 'OnFailure';
    await this.store
      .update({
        ...pod,
        status: {
          ...pod.status,
          phase: restart ? 'Running' : exitCode === 0 ? 'Succeeded' : 'Failed',
          conditions: [
            ...(pod.status?.conditions ?? []).filter((c) => c.type !== 'Ready'),
            { type: 'Ready', status: 'False', lastTransitionTime: t },
          ],
          containerStatuses: [
            {
              name: 'app',
              image: 'img',
              ready: false,
              restartCount: (previous?.restartCount ?? 0) + (restart ? 1 : 0),
              state: restart ? { running: { startedAt: t } } : { terminated },
              ...(restart ? { lastState: { terminated } } : {}),
            },
          ],
        },
      })
      .catch(() => undefined);
  }

  async run(name: string): Promise<void> {
    await this.heartbeat(name);
    const pods = (await this.store.list<Pod>('Pod', { nodeName: name })).items;
    for (const pod of pods) {
      const uid = pod.metadata.uid as string;
      if (pod.metadata.deletionTimestamp) {
        const since = this.terminatingAt.get(uid) ?? this.now;
        this.terminatingAt.set(uid, since);
        if (this.now - since >= (this.options.stopDelayMs ?? 1_000)) {
          await this.store
            .delete({ kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name })
            .catch(() => undefined);
        }
        continue;
      }
      if (pod.status?.phase === 'Running') {
        await this.finishIfDone(pod);
        continue;
      }
      if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') continue;
      const since = this.boundAt.get(uid) ?? this.now;
      this.boundAt.set(uid, since);
      if (this.now - since < (this.options.startDelayMs ?? 2_000)) continue;
      const t = isoTime(this.now);
      await this.store
        .update({
          ...pod,
          status: {
            ...pod.status,
            phase: 'Running',
            hostIP: '127.0.1.1',
            startTime: t,
            conditions: [
              ...(pod.status?.conditions ?? []).filter((c) => c.type === 'PodScheduled'),
              { type: 'Ready', status: 'True', lastTransitionTime: t },
            ],
            containerStatuses: [
              { name: 'app', image: 'img', ready: true, restartCount: 0, state: { running: { startedAt: t } } },
            ],
          },
        })
        .catch(() => undefined);
    }
  }
}

export function deployment(
  name: string,
  replicas: number,
  extra: {
    image?: string;
    strategy?: Deployment['spec']['strategy'];
    cpu?: string;
    progressDeadlineSeconds?: number;
  } = {},
): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(extra.strategy ? { strategy: extra.strategy } : {}),
      ...(extra.progressDeadlineSeconds ? { progressDeadlineSeconds: extra.progressDeadlineSeconds } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: extra.image ?? 'ferry.local/busybox:1',
              ...(extra.cpu ? { resources: { requests: { cpu: extra.cpu } } } : {}),
            },
          ],
        },
      },
    },
  };
}

export function job(
  name: string,
  extra: {
    completions?: number;
    parallelism?: number;
    backoffLimit?: number;
    activeDeadlineSeconds?: number;
    ttlSecondsAfterFinished?: number;
    restartPolicy?: 'Never' | 'OnFailure';
    runMs?: number;
    exitCode?: number;
  } = {},
): Job {
  const { runMs = 3_000, exitCode = 0, restartPolicy = 'Never', ...spec } = extra;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      ...spec,
      template: {
        metadata: { annotations: { [RUN_MS]: String(runMs), [EXIT_CODE]: String(exitCode) } },
        spec: { restartPolicy, containers: [{ name: 'app', image: 'ferry.local/busybox:1' }] },
      },
    },
  } as Job;
}

export function cronJob(
  name: string,
  schedule: string,
  extra: Partial<
    Pick<CronJob['spec'], 'concurrencyPolicy' | 'startingDeadlineSeconds' | 'successfulJobsHistoryLimit' | 'suspend'>
  > & {
    runMs?: number;
    exitCode?: number;
  } = {},
): CronJob {
  const { runMs, exitCode, ...spec } = extra;
  const j = job('unused', {
    ...(runMs !== undefined ? { runMs } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
  });
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'default' },
    spec: { schedule, ...spec, jobTemplate: { spec: j.spec } },
  } as CronJob;
}
