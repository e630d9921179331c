/**
 * The pod manager: keeps the container runtime matching the pods bound to this node, on its own
 * one-second tick so restarts and probes go on while the control plane is unreachable. This file
 * is the intake and the bookkeeping: the desired pods and their ConfigMaps/Secrets from the sync
 * loop, one record per pod, adoption after an agent restart, the statuses to report. What to do
 * for a pod is decided by actions.ts (pure) and done by executor.ts.
 *
 * After an agent restart it adopts the containers it finds by label and restarts none of them
 * (Nomad's RecoverTask); containers of pods no longer bound here are removed only after the first
 * successful sync, so an agent that starts while the API is down never tears down healthy pods.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigSource, LogRequestRef, NodeVolume, PodRef } from '../../schemas/agent-protocol';
import type { Pod } from '../../schemas/pod';
import { isoTime } from '../../schemas/time';
import type { PodSink } from '../agent';
import type { StreamSocket } from '../exec/dial';
import { type StreamRequestRef, streamSession } from '../exec/session';
import type { ContainerRuntime, PodIdentity } from '../runtime/types';
import { isSidecar } from './actions';
import { ConfigSources } from './config-sources';
import { drain } from './drain';
import { isInitialized, PodExecutor } from './executor';
import { answerLogs } from './logs';
import type { PodManagerOptions } from './manager-options';
import { type AnyContainer, type PodRecord, podKey } from './record';
import { buildPodStatus, type ContainerView } from './status';
import { refreshConfigVolumes } from './volumes';

export type { PodManagerOptions } from './manager-options';

export class PodManager implements PodSink {
  private readonly records = new Map<string, PodRecord>();
  private readonly config = new ConfigSources();
  private readonly executor: PodExecutor;
  private desired: Map<string, Pod> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private swept = false;
  private readonly now: () => number;
  private statusListener: (() => void) | undefined;
  /** Host port -> the pod IP and container port behind it, for this node's running pods. */
  private local = new Map<number, { host: string; port: number }>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly options: PodManagerOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.executor = new PodExecutor({
      runtime,
      config: this.config,
      log: options.log,
      now: this.now,
      nodeIp: options.nodeIp,
      stateDir: options.stateDir,
      ...(options.backoffBaseMs !== undefined ? { backoffBaseMs: options.backoffBaseMs } : {}),
      ...(options.serviceEnv ? { serviceEnv: options.serviceEnv } : {}),
      ...(options.inCluster ? { inCluster: options.inCluster } : {}),
      ...(options.dns ? { dns: options.dns } : {}),
      ...(options.allocatable ? { allocatable: options.allocatable } : {}),
    });
    // The kube-root-ca.crt ConfigMap pods project is this node's CA for the API (config-sources.ts).
    this.config.rootCa = options.inCluster && (() => options.inCluster?.tokens.caCert() ?? '');
  }

  /** Adopts what runs already, then starts the tick. */
  async start(): Promise<void> {
    await this.adopt();
    this.timer = setInterval(() => void this.tick(), this.options.tickMs ?? 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
  }

  async runtimeHealthy() {
    try {
      return { ok: true, message: 'agent is posting ready status', version: await this.runtime.version() };
    } catch (err) {
      return { ok: false, message: `container runtime is down: ${(err as Error).message}`, version: 'unknown' };
    }
  }

  onStatusChange(listener: () => void): void {
    this.statusListener = listener;
  }

  private notifyIfChanged(): void {
    if (this.statusListener && (this.changedStatuses().length > 0 || this.terminated().length > 0)) {
      this.statusListener();
    }
  }

  setDesired(
    pods: Record<string, unknown>[],
    config?: { configMaps?: ConfigSource[]; secrets?: ConfigSource[] },
    volumes?: NodeVolume[],
  ): void {
    this.desired = new Map(pods.map((p) => [(p as unknown as Pod).metadata.uid as string, p as unknown as Pod]));
    if (config && this.config.update(config.configMaps ?? [], config.secrets ?? [])) this.configChanged();
    const held = () => [...this.records.values()].map((r) => this.desired?.get(r.identity.uid) ?? r.pod);
    if (volumes && this.executor.claims.update(volumes, held(), this.desired)) this.configChanged();
    void this.tick();
  }

  /**
   * A ConfigMap or Secret changed or appeared: containers waiting for one try again now, and the
   * volumes of running pods get the new contents.
   */
  private configChanged(): void {
    for (const rec of this.records.values()) {
      for (const c of rec.containers.values()) {
        if ('waiting' in c.state && c.state.waiting.reason === 'CreateContainerConfigError') c.nextStartAt = 0;
      }
      const pod = this.desired?.get(rec.identity.uid);
      if (!pod || !rec.sandbox || rec.stopping || pod.metadata.deletionTimestamp) continue;
      refreshConfigVolumes(this.config, pod, (v) => this.executor.volumeDir(rec, v), this.options.log);
    }
  }

  /** A stream session (exec, attach, a streamed log) for one of this node's containers (agent/exec/). */
  stream(req: StreamRequestRef, dial: (session: string) => Promise<StreamSocket>): Promise<void> {
    return streamSession(this.runtime, this.records.get(req.pod.uid), req, dial);
  }

  /** A container's output for `GET .../pods/{name}/log` (logs.ts). */
  logs(req: LogRequestRef): Promise<{ content: string } | { error: string }> {
    return answerLogs(this.runtime, this.records.get(req.pod.uid)?.containers.get(req.container), req);
  }

  changedStatuses() {
    const out: { pod: PodRef; status: Record<string, unknown> }[] = [];
    for (const rec of this.records.values()) {
      if (rec.status && rec.statusJson !== rec.reportedJson && this.desired?.has(rec.identity.uid)) {
        out.push({ pod: { ...rec.identity }, status: rec.status });
      }
    }
    return out;
  }

  terminated(): PodRef[] {
    return [...this.records.values()]
      .filter((r) => r.stopped && r.pod?.metadata.deletionTimestamp && !r.terminationReported)
      .map((r) => ({ ...r.identity }));
  }

  markReported(statuses: { pod: PodRef; status: Record<string, unknown> }[], terminated: PodRef[]): void {
    for (const s of statuses) {
      const rec = this.records.get(s.pod.uid);
      if (rec) rec.reportedJson = JSON.stringify(s.status);
    }
    for (const t of terminated) {
      const rec = this.records.get(t.uid);
      if (rec) rec.terminationReported = true;
    }
  }

  /** Every pod's status as last computed, for the agent's /metrics (metrics-endpoint.ts). */
  statuses(): Record<string, unknown>[] {
    return [...this.records.values()].flatMap((r) => (r.status ? [r.status] : []));
  }

  markAllUnreported(): void {
    for (const rec of this.records.values()) {
      rec.reportedJson = undefined;
      rec.terminationReported = false;
    }
  }

  /** One reconcile pass; concurrent calls coalesce into one more pass. */
  tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcile();
        } catch (err) {
          this.options.log.error('pod reconcile failed', { error: String(err) });
        }
      } while (this.again);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async adopt(): Promise<void> {
    const found = await this.runtime.listManaged();
    for (const c of found) {
      const identity = { uid: c.podUid, name: c.podName, namespace: c.podNamespace };
      const rec = this.records.get(c.podUid) ?? newRecord(identity);
      this.records.set(c.podUid, rec);
      if (c.role === 'sandbox') {
        rec.sandbox = await this.runtime.sandboxInfo(c.id, identity).catch(() => undefined);
      } else if (c.containerName) {
        rec.containers.set(c.containerName, {
          name: c.containerName,
          id: c.id,
          specHash: c.specHash ?? '',
          restartCount: c.restartCount ?? 0,
          consecutiveFailures: 0,
          nextStartAt: 0,
          startedAtMs: this.now(),
          state: { waiting: { reason: 'Adopted' } },
          // An adopted instance is past its startup probe: it was running before the agent stopped.
          started: true,
          ready: false,
          done: false,
        });
      }
    }
    if (found.length > 0)
      this.options.log.info('adopted running containers', { containers: found.length, pods: this.records.size });
  }

  private async reconcile(): Promise<void> {
    const desired = this.desired;
    const work: Promise<void>[] = [];
    if (desired) {
      for (const [uid, pod] of desired) {
        const rec =
          this.records.get(uid) ??
          newRecord({ uid, name: pod.metadata.name, namespace: pod.metadata.namespace as string });
        this.records.set(uid, rec);
        rec.pod = pod;
        if (pod.metadata.deletionTimestamp) {
          rec.stopping ??= this.stopPod(
            rec,
            pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30,
            true,
          );
        } else {
          // Each pod's status goes out as soon as that pod is done, not when the slowest one is.
          work.push(
            this.executor.sync(rec, pod).then(() => {
              this.refreshStatus(rec);
              this.notifyIfChanged();
            }),
          );
        }
      }
      // Pods no longer bound here (deleted with force, or evicted while this node was away).
      for (const [uid, rec] of this.records) {
        if (desired.has(uid)) continue;
        rec.stopping ??= this.stopPod(rec, 2);
        void rec.stopping.then(() => this.records.delete(uid));
      }
      if (!this.swept) {
        this.swept = true;
        work.push(this.sweepDangling());
      }
    } else {
      // Before the first sync: keep adopted containers running and restarting, change nothing else.
      for (const rec of this.records.values()) if (rec.pod) work.push(this.executor.sync(rec, rec.pod));
    }
    await Promise.all(work);
    for (const rec of this.records.values()) this.refreshStatus(rec);
    this.notifyIfChanged();
    const local = new Map<number, { host: string; port: number }>();
    for (const rec of this.records.values()) {
      const ip = rec.sandbox?.podIp;
      if (!ip || rec.stopped) continue;
      for (const m of rec.sandbox?.portMappings ?? [])
        if (m.hostPort > 0) local.set(m.hostPort, { host: ip, port: m.containerPort });
    }
    this.local = local;
  }

  /**
   * Where a host port of this node leads: the pod's own address and container port, so the proxy
   * skips Docker's port publishing for pods on its own node (as kube-proxy sends to the pod IP).
   */
  podBehind(hostPort: number): { host: string; port: number } | undefined {
    return this.local.get(hostPort);
  }

  /** Containers that carry our labels but belong to no pod we know (a crash between create and record). */
  private async sweepDangling(): Promise<void> {
    const known = new Set<string>();
    for (const rec of this.records.values()) {
      if (rec.sandbox) known.add(rec.sandbox.id);
      for (const c of rec.containers.values()) if (c.id) known.add(c.id);
    }
    for (const c of await this.runtime.listManaged()) {
      if (!known.has(c.id) && !this.desired?.has(c.podUid)) await this.runtime.stopAndRemove(c.id, 0);
    }
  }

  private async stopPod(rec: PodRecord, graceSeconds: number, drainFirst = false): Promise<void> {
    if (drainFirst) {
      const ports = (rec.sandbox?.portMappings ?? []).map((m) => m.hostPort);
      await this.options.withdraw?.(ports).catch((err) =>
        this.options.log.warn('withdrawing a terminating pod from the cluster IP rules failed', {
          pod: podKey(rec),
          error: String(err),
        }),
      );
      const waited = await drain(ports, graceSeconds, {
        nodeIp: this.options.nodeIp,
        ...(this.options.routesTo ? { routesTo: this.options.routesTo } : {}),
        ...(this.options.drainTimeoutMs !== undefined ? { timeoutMs: this.options.drainTimeoutMs } : {}),
        ...(this.options.drainSettleMs !== undefined ? { settleMs: this.options.drainSettleMs } : {}),
      });
      graceSeconds = Math.max(0, graceSeconds - waited / 1000);
    }
    try {
      await this.executor.stopPod(rec, graceSeconds);
    } catch (err) {
      this.options.log.error('stopping pod failed', { pod: podKey(rec), error: String(err) });
      rmSync(join(this.options.stateDir, 'pods', rec.identity.uid), { recursive: true, force: true });
      this.options.inCluster?.tokens.forget(rec.identity.uid);
    }
    rec.stopped = true;
    void this.tick();
  }

  private refreshStatus(rec: PodRecord): void {
    const pod = rec.pod;
    if (!pod || rec.stopped || rec.finished === 'before') return;
    const initialized = isInitialized(rec, pod);
    const apps = new Set(pod.spec.containers.map((s) => s.name));
    const view = (spec: AnyContainer): ContainerView => {
      const c = rec.containers.get(spec.name);
      // App containers wait for the init containers, as the kubelet reports them.
      const initializing = !initialized && apps.has(spec.name) && !c?.id;
      return {
        name: spec.name,
        image: spec.image,
        ...(c?.id ? { containerId: c.id } : {}),
        state: initializing
          ? { waiting: { reason: 'PodInitializing' } }
          : (c?.state ?? { waiting: { reason: 'ContainerCreating' } }),
        ...(c?.lastState ? { lastState: c.lastState } : {}),
        ready: c?.ready ?? false,
        started: c?.started ?? false,
        restartCount: c?.restartCount ?? 0,
        ...(isSidecar(spec) ? { sidecar: true } : {}),
      };
    };
    const inits = (pod.spec.initContainers ?? []) as AnyContainer[];
    const initFailed =
      (pod.spec.restartPolicy ?? 'Always') === 'Never' &&
      inits.some((s) => {
        const c = rec.containers.get(s.name);
        return !isSidecar(s) && c?.done === true && 'terminated' in c.state && c.state.terminated.exitCode !== 0;
      });
    const status = buildPodStatus(
      {
        restartPolicy: pod.spec.restartPolicy ?? 'Always',
        nodeIp: this.options.nodeIp,
        ...(rec.sandbox?.podIp ? { podIp: rec.sandbox.podIp } : {}),
        ...(rec.startTime ? { startTime: rec.startTime } : {}),
        containers: pod.spec.containers.map((s) => view(s as AnyContainer)),
        initContainers: inits.map(view),
        initialized,
        initFailed,
        ...(rec.waitingReason ? { waitingReason: rec.waitingReason } : {}),
        ...(rec.deadlineExceeded
          ? {
              failure: {
                reason: 'DeadlineExceeded',
                message: 'Pod was active on the node longer than the specified deadline',
              },
            }
          : rec.evicted
            ? { failure: { reason: 'Evicted', message: rec.evicted } }
            : {}),
        portMappings: rec.sandbox?.portMappings ?? [],
        now: isoTime(this.now()),
      },
      rec.status ?? pod.status,
    );
    rec.status = status;
    rec.statusJson = JSON.stringify(status);
  }
}

function newRecord(identity: PodIdentity): PodRecord {
  return { identity, containers: new Map(), stopped: false, terminationReported: false };
}
