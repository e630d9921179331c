/**
 * The pod manager: reconciles the container runtime to the pods bound to this node, on its own
 * one-second tick so restarts and probes go on while the control plane is unreachable.
 *
 * Per pod: a sandbox container that owns the network namespace and the published ports, then the
 * pod's containers joined to it; restart policy with CrashLoopBackOff; liveness (restart) and
 * readiness (Ready condition) probes; graceful stop on deletion. After an agent restart it adopts
 * the containers it finds by label and restarts none of them (Nomad's RecoverTask); containers of
 * pods no longer bound here are removed only after the first successful sync, so an agent that
 * starts while the API is down never tears down healthy pods.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigSource, LogRequestRef, PodRef } from '../../schemas/agent-protocol';
import type { PodSink } from '../agent';
import type { AgentLogger } from '../log';
import { type ProbeSpec, ProbeState, runProbe } from '../probes';
import { tailOf } from '../runtime/log-tail';
import {
  type ContainerSpecLike,
  ImagePullFailedError,
  type PodIdentity,
  type PodRuntime,
  type SandboxInfo,
} from '../runtime/types';
import { ConfigNotReadyError, type ConfigVolume, type EnvSpec, NodeConfig } from './config';
import { type RestartPolicy, restartDelayMs, shouldRestart } from './restart';
import { buildPodStatus, type ContainerState, type PortMapping } from './status';

interface ContainerSpec extends Omit<ContainerSpecLike, 'env'>, EnvSpec {
  livenessProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
}

interface PodObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
  };
  spec: {
    containers: ContainerSpec[];
    nodeName?: string;
    serviceAccountName?: string;
    restartPolicy?: RestartPolicy;
    terminationGracePeriodSeconds?: number;
    volumes?: ({ name: string; emptyDir?: object; hostPath?: { path: string } } & ConfigVolume)[];
  };
  status?: Record<string, unknown>;
}

interface ContainerRecord {
  name: string;
  id?: string;
  specHash: string;
  restartCount: number;
  consecutiveFailures: number;
  nextStartAt: number;
  startedAtMs?: number;
  state: ContainerState;
  lastState?: ContainerState;
  liveness?: ProbeState;
  readiness?: ProbeState;
  ready: boolean;
  /** Exited for good (restart policy says no). */
  done: boolean;
  /** Output tails of the last exited instances, newest first (for `logs` and `logs --previous`). */
  exitedLogs?: string[];
}

interface PodRecord {
  identity: PodIdentity;
  pod?: PodObject;
  sandbox?: SandboxInfo;
  containers: Map<string, ContainerRecord>;
  startTime?: string;
  waitingReason?: { reason: string; message: string };
  stopping?: Promise<void>;
  stopped: boolean;
  /** Every container exited for good: here, or before this agent started (nothing is run again). */
  finished?: 'here' | 'before';
  status?: Record<string, unknown>;
  statusJson?: string;
  reportedJson?: string;
  terminationReported: boolean;
}

export interface PodManagerOptions {
  nodeIp: string;
  stateDir: string;
  log: AgentLogger;
  now?: () => number;
  tickMs?: number;
  /** Restart back-off base (Kubernetes: 10 s); lowered in tests. */
  backoffBaseMs?: number;
  /** Service environment variables for a pod's containers in this namespace, read at container start. */
  serviceEnv?: (namespace: string) => { name: string; value: string }[];
  /** Whether the node's proxy still sends traffic to this address and host port. */
  routesTo?: (ip: string, port: number) => boolean;
  /** Longest wait for the proxies to drop a terminating pod before its SIGTERM (default 5 s). */
  drainTimeoutMs?: number;
  /** Extra wait after this node's proxy dropped it, for the other nodes' proxies (default 1 s). */
  drainSettleMs?: number;
}

/** How much output of an exited container instance is kept (two instances per container). */
const EXITED_LOG_BYTES = 64 * 1024;
const EXITED_LOG_LINES = 10_000;

export class PodManager implements PodSink {
  private readonly records = new Map<string, PodRecord>();
  private readonly config = new NodeConfig();
  private desired: Map<string, PodObject> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private swept = false;
  private readonly now: () => number;
  private statusListener: (() => void) | undefined;
  /** Host port -> the pod IP and container port behind it, for this node's running pods. */
  private local = new Map<number, { host: string; port: number }>();

  constructor(
    private readonly runtime: PodRuntime,
    private readonly options: PodManagerOptions,
  ) {
    this.now = options.now ?? Date.now;
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
  ): void {
    this.desired = new Map(pods.map((p) => [(p as unknown as PodObject).metadata.uid, p as unknown as PodObject]));
    if (config && this.config.update(config.configMaps ?? [], config.secrets ?? [])) this.configChanged();
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
      for (const vol of pod.spec.volumes ?? []) {
        if (!vol.configMap && !vol.secret) continue;
        try {
          this.config.project(pod.metadata.namespace, vol, this.volumeDir(rec, vol.name));
        } catch (err) {
          // The running container keeps the files it has; a restart reports the error.
          this.options.log.warn('refreshing a volume failed', {
            pod: podKey(rec),
            volume: vol.name,
            error: String(err),
          });
        }
      }
    }
  }

  /**
   * A container's output for `GET .../pods/{name}/log`: the running instance's from the runtime,
   * else the last exited one's; `previous`, the instance before that, as the kubelet keeps it.
   */
  async logs(req: LogRequestRef): Promise<{ content: string } | { error: string }> {
    const c = this.records.get(req.pod.uid)?.containers.get(req.container);
    const who = `container "${req.container}" in pod "${req.pod.name}"`;
    if (!c) return { error: `${who} is waiting to start` };
    const options = { tailLines: req.tailLines, limitBytes: req.limitBytes };
    const running = c.id !== undefined;
    if (req.previous) {
      const text = c.exitedLogs?.[running ? 0 : 1];
      return text === undefined
        ? { error: `previous terminated ${who} not found` }
        : { content: tailOf(text, options) };
    }
    if (c.id) {
      try {
        return { content: await this.runtime.logTail(c.id, options) };
      } catch (err) {
        return { error: `reading the output of ${who}: ${(err as Error).message}` };
      }
    }
    const last = c.exitedLogs?.[0];
    if (last !== undefined) return { content: tailOf(last, options) };
    const reason = 'waiting' in c.state ? c.state.waiting.reason : 'ContainerCreating';
    return { error: `${who} is waiting to start: ${reason}` };
  }

  /** Keeps the tail of an exiting container's output before the container is removed. */
  private async keepExitedLog(c: ContainerRecord): Promise<void> {
    if (!c.id) return;
    try {
      const text = await this.runtime.logTail(c.id, { tailLines: EXITED_LOG_LINES, limitBytes: EXITED_LOG_BYTES });
      c.exitedLogs = [text, ...(c.exitedLogs ?? [])].slice(0, 2);
    } catch {
      // Gone already (removed by hand): nothing to keep.
    }
  }

  private volumeDir(rec: PodRecord, volume: string): string {
    return join(this.options.stateDir, 'pods', rec.identity.uid, 'volumes', volume);
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
      const rec = this.records.get(c.podUid) ?? this.newRecord(identity);
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
          ready: false,
          done: false,
        });
      }
    }
    if (found.length > 0)
      this.options.log.info('adopted running containers', { containers: found.length, pods: this.records.size });
  }

  private newRecord(identity: PodIdentity): PodRecord {
    return { identity, containers: new Map(), stopped: false, terminationReported: false };
  }

  private async reconcile(): Promise<void> {
    const desired = this.desired;
    const work: Promise<void>[] = [];
    if (desired) {
      for (const [uid, pod] of desired) {
        const rec =
          this.records.get(uid) ?? this.newRecord({ uid, name: pod.metadata.name, namespace: pod.metadata.namespace });
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
            this.syncPod(rec, pod).then(() => {
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
      for (const rec of this.records.values()) if (rec.pod) work.push(this.syncPod(rec, rec.pod));
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

  private async syncPod(rec: PodRecord, pod: PodObject): Promise<void> {
    if (rec.stopping || rec.finished) return;
    const phase = pod.status?.phase;
    if ((phase === 'Succeeded' || phase === 'Failed') && ![...rec.containers.values()].some((c) => c.id)) {
      // Finished before this agent (re)started: nothing to run, and its reported status stands.
      rec.finished = 'before';
      return;
    }
    if (!rec.sandbox) {
      try {
        rec.sandbox = await this.runtime.createSandbox(rec.identity, portsOf(pod));
        rec.startTime = iso(this.now());
        rec.waitingReason = undefined;
      } catch (err) {
        rec.waitingReason = { reason: 'SandboxCreateFailed', message: (err as Error).message };
        this.options.log.warn('creating pod sandbox failed', { pod: podKey(rec), error: (err as Error).message });
        return;
      }
    }
    rec.startTime ??= iso(this.now());
    await Promise.all(pod.spec.containers.map((spec) => this.syncContainer(rec, pod, spec)));
    if (pod.spec.containers.every((spec) => rec.containers.get(spec.name)?.done)) {
      // Every container exited for good (a Job's pod): free the sandbox and its host ports, as
      // the kubelet does for a terminal pod; the status keeps what it reported.
      rec.finished = 'here';
      if (rec.sandbox) await this.runtime.stopAndRemove(rec.sandbox.id, 0).catch(() => undefined);
    }
  }

  private async syncContainer(rec: PodRecord, pod: PodObject, spec: ContainerSpec): Promise<void> {
    const now = this.now();
    const policy = pod.spec.restartPolicy ?? 'Always';
    const hash = specHash(spec);
    let c = rec.containers.get(spec.name);
    if (!c) {
      c = {
        name: spec.name,
        specHash: hash,
        restartCount: 0,
        consecutiveFailures: 0,
        nextStartAt: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
        ready: false,
        done: false,
      };
      rec.containers.set(spec.name, c);
    }
    if (c.id) {
      const info = await this.runtime.inspect(c.id);
      if (info?.running) {
        c.state = { running: { startedAt: info.startedAt ?? iso(c.startedAtMs ?? now) } };
        c.startedAtMs ??= info.startedAt ? Date.parse(info.startedAt) : now;
        await this.runProbes(rec, c, spec);
        return;
      }
      const exitCode = info?.exitCode ?? 137;
      const startedAt = info?.startedAt ?? iso(c.startedAtMs ?? now);
      const ranForMs = now - (info?.startedAt ? Date.parse(info.startedAt) : (c.startedAtMs ?? now));
      c.state = {
        terminated: {
          exitCode,
          reason: info?.oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: info?.finishedAt ?? iso(now),
        },
      };
      c.ready = false;
      await this.keepExitedLog(c);
      await this.runtime.stopAndRemove(c.id, 0);
      c.id = undefined;
      if (!shouldRestart(policy, { exitCode, ranForMs })) {
        c.done = true;
        return;
      }
      c.lastState = c.state;
      c.consecutiveFailures = ranForMs >= 10 * 60_000 ? 1 : c.consecutiveFailures + 1;
      c.nextStartAt = now + restartDelayMs(c.consecutiveFailures, { exitCode, ranForMs }, this.options.backoffBaseMs);
    }
    if (c.done) return;
    if (now < c.nextStartAt) {
      const waiting =
        'waiting' in c.state && c.state.waiting.reason.includes('Image') ? c.state.waiting.reason : 'CrashLoopBackOff';
      const reason = waiting === 'ErrImagePull' ? 'ImagePullBackOff' : waiting;
      c.state = {
        waiting: {
          reason,
          message: `back-off ${Math.ceil((c.nextStartAt - now) / 1000)}s restarting failed container=${c.name} pod=${podKey(rec)}`,
        },
      };
      return;
    }
    await this.startContainer(rec, pod, spec, c, hash);
  }

  private async startContainer(
    rec: PodRecord,
    pod: PodObject,
    spec: ContainerSpec,
    c: ContainerRecord,
    hash: string,
  ): Promise<void> {
    const now = this.now();
    let env: { name: string; value: string }[];
    let volumes: { hostPath: string; mountPath: string; readOnly: boolean }[];
    try {
      env = this.containerEnv(rec, pod, spec);
      volumes = this.volumesFor(rec, pod, spec);
    } catch (err) {
      if (!(err instanceof ConfigNotReadyError)) throw err;
      c.state = { waiting: { reason: 'CreateContainerConfigError', message: err.message } };
      c.nextStartAt = now + 10_000;
      return;
    }
    try {
      await this.runtime.ensureImage(spec.image, spec.imagePullPolicy ?? 'IfNotPresent');
    } catch (err) {
      if (!(err instanceof ImagePullFailedError)) throw err;
      const first = !('waiting' in c.state && c.state.waiting.reason.includes('Image'));
      c.consecutiveFailures++;
      c.nextStartAt =
        now + restartDelayMs(c.consecutiveFailures + 1, { exitCode: 1, ranForMs: 0 }, this.options.backoffBaseMs);
      c.state = { waiting: { reason: first ? 'ErrImagePull' : 'ImagePullBackOff', message: err.message } };
      return;
    }
    const restarts = c.lastState ? c.restartCount + 1 : c.restartCount;
    try {
      c.id = await this.runtime.startContainer(
        rec.identity,
        rec.sandbox?.id as string,
        spec,
        env,
        volumes,
        hash,
        restarts,
      );
    } catch (err) {
      c.state = { waiting: { reason: 'RunContainerError', message: (err as Error).message } };
      c.consecutiveFailures++;
      c.nextStartAt =
        now + restartDelayMs(c.consecutiveFailures + 1, { exitCode: 1, ranForMs: 0 }, this.options.backoffBaseMs);
      return;
    }
    c.restartCount = restarts;
    c.specHash = hash;
    c.startedAtMs = now;
    c.state = { running: { startedAt: iso(now) } };
    c.liveness = spec.livenessProbe ? new ProbeState(spec.livenessProbe, true) : undefined;
    c.readiness = spec.readinessProbe ? new ProbeState(spec.readinessProbe, false) : undefined;
    c.ready = !spec.readinessProbe;
  }

  /**
   * The container's environment: the Service variables of its namespace, then `envFrom`, then its
   * own `env` (a later one wins on a clash, as in Kubernetes), with `valueFrom` resolved from the
   * downward API, ConfigMaps and Secrets. Throws ConfigNotReadyError saying what is missing.
   */
  private containerEnv(rec: PodRecord, pod: PodObject, spec: ContainerSpec): { name: string; value: string }[] {
    const out = new Map<string, string>();
    for (const e of this.options.serviceEnv?.(pod.metadata.namespace) ?? []) out.set(e.name, e.value);
    this.config.env(
      pod.metadata.namespace,
      spec,
      (e) => {
        if (e.valueFrom === undefined) return e.value ?? '';
        const path = (e.valueFrom.fieldRef as { fieldPath?: string } | undefined)?.fieldPath;
        const value = path === undefined ? undefined : this.fieldValue(rec, pod, path);
        if (value === undefined)
          throw new ConfigNotReadyError(
            `env ${e.name}: only valueFrom.configMapKeyRef, valueFrom.secretKeyRef and valueFrom.fieldRef with metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName, status.hostIP or status.podIP are supported by this agent yet`,
          );
        return value;
      },
      out,
    );
    return [...out].map(([name, value]) => ({ name, value }));
  }

  /** Kubernetes' downward API fields (fieldRef.fieldPath). */
  private fieldValue(rec: PodRecord, pod: PodObject, path: string): string | undefined {
    const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
    if (m) return pod.metadata[m[1] as 'labels' | 'annotations']?.[m[2] as string] ?? '';
    switch (path) {
      case 'metadata.name':
        return pod.metadata.name;
      case 'metadata.namespace':
        return pod.metadata.namespace;
      case 'metadata.uid':
        return pod.metadata.uid;
      case 'spec.nodeName':
        return pod.spec.nodeName ?? '';
      case 'spec.serviceAccountName':
        return pod.spec.serviceAccountName ?? 'default';
      case 'status.hostIP':
        return this.options.nodeIp;
      case 'status.podIP':
        return rec.sandbox?.podIp ?? '';
      default:
        return undefined;
    }
  }

  private async runProbes(rec: PodRecord, c: ContainerRecord, spec: ContainerSpec): Promise<void> {
    const now = this.now();
    const started = c.startedAtMs ?? now;
    if (spec.livenessProbe && !c.liveness) c.liveness = new ProbeState(spec.livenessProbe, true);
    if (spec.readinessProbe && !c.readiness) c.readiness = new ProbeState(spec.readinessProbe, false);
    const target = this.probeTarget(rec, c, spec);
    if (c.liveness?.due(now, started)) {
      c.liveness.record(now, await runProbe(c.liveness.spec, target));
      if (!c.liveness.passing && c.id) {
        this.options.log.info('liveness probe failed; restarting container', { pod: podKey(rec), container: c.name });
        // Stopped here; the next pass sees it exited and applies the restart policy.
        await this.keepExitedLog(c);
        await this.runtime.stopAndRemove(c.id, 2).catch(() => undefined);
        c.liveness = undefined;
        c.ready = false;
        return;
      }
    }
    if (c.readiness) {
      if (c.readiness.due(now, started)) c.readiness.record(now, await runProbe(c.readiness.spec, target));
      c.ready = c.readiness.passing;
    } else {
      c.ready = true;
    }
  }

  private probeTarget(rec: PodRecord, c: ContainerRecord, spec: ContainerSpec) {
    const mappings = rec.sandbox?.portMappings ?? [];
    const podIp = rec.sandbox?.podIp;
    return {
      host: podIp ?? this.options.nodeIp,
      resolvePort: (port: number | string) => {
        const byName = typeof port === 'string' ? spec.ports?.find((p) => p.name === port)?.containerPort : port;
        if (byName === undefined) return undefined;
        if (podIp) return byName;
        return mappings.find((m) => m.containerPort === byName)?.hostPort;
      },
      exec: (command: string[], timeoutMs: number) => this.runtime.exec(c.id as string, command, timeoutMs),
    };
  }

  private volumesFor(rec: PodRecord, pod: PodObject, spec: ContainerSpec) {
    const out: { hostPath: string; mountPath: string; readOnly: boolean }[] = [];
    for (const m of spec.volumeMounts ?? []) {
      const vol = pod.spec.volumes?.find((v) => v.name === m.name);
      if (!vol) continue;
      let hostPath: string | undefined;
      let readOnly = m.readOnly ?? false;
      if (vol.emptyDir) {
        hostPath = this.volumeDir(rec, vol.name);
        mkdirSync(hostPath, { recursive: true, mode: 0o777 });
      } else if (vol.hostPath) {
        hostPath = vol.hostPath.path;
      } else if (vol.configMap || vol.secret) {
        hostPath = this.volumeDir(rec, vol.name);
        this.config.project(pod.metadata.namespace, vol, hostPath);
        readOnly = true; // as Kubernetes mounts them
      }
      if (hostPath) out.push({ hostPath, mountPath: m.mountPath, readOnly });
    }
    return out;
  }

  private async stopPod(rec: PodRecord, graceSeconds: number, drain = false): Promise<void> {
    if (drain) graceSeconds = Math.max(0, graceSeconds - (await this.drain(rec, graceSeconds)) / 1000);
    const ids = [...rec.containers.values()].map((c) => c.id).filter((id): id is string => id !== undefined);
    // All app containers get SIGTERM at once, as the kubelet does; the sandbox goes last.
    await Promise.all(ids.map((id) => this.runtime.stopAndRemove(id, graceSeconds)));
    if (rec.sandbox) await this.runtime.stopAndRemove(rec.sandbox.id, 0);
    for (const c of rec.containers.values()) {
      c.id = undefined;
      c.ready = false;
    }
    rmSync(join(this.options.stateDir, 'pods', rec.identity.uid), { recursive: true, force: true });
    rec.stopped = true;
    void this.tick();
  }

  /**
   * Before a terminating pod gets SIGTERM: wait until this node's proxy no longer routes to it,
   * then a little longer for the other nodes' proxies, so no request is sent to a dying pod. The
   * endpoints controller drops the pod as soon as it is marked for deletion; this only waits for
   * that to reach the proxies. Bounded by drainTimeoutMs and the pod's grace period; returns the ms waited.
   */
  private async drain(rec: PodRecord, graceSeconds: number): Promise<number> {
    const routesTo = this.options.routesTo;
    const ports = (rec.sandbox?.portMappings ?? []).map((m) => m.hostPort).filter((p) => p > 0);
    if (!routesTo || ports.length === 0 || graceSeconds <= 0) return 0;
    const started = Date.now();
    const limit = Math.min(this.options.drainTimeoutMs ?? 5000, graceSeconds * 500);
    const routed = () => ports.some((p) => routesTo(this.options.nodeIp, p));
    while (routed() && Date.now() - started < limit) await new Promise((r) => setTimeout(r, 100));
    const settle = Math.min(this.options.drainSettleMs ?? 1000, Math.max(0, limit - (Date.now() - started)));
    await new Promise((r) => setTimeout(r, settle));
    return Date.now() - started;
  }

  private refreshStatus(rec: PodRecord): void {
    const pod = rec.pod;
    if (!pod || rec.stopped || rec.finished === 'before') return;
    const containers = pod.spec.containers.map((spec) => {
      const c = rec.containers.get(spec.name);
      return {
        name: spec.name,
        image: spec.image,
        ...(c?.id ? { containerId: c.id } : {}),
        state: c?.state ?? { waiting: { reason: 'ContainerCreating' } },
        ...(c?.lastState ? { lastState: c.lastState } : {}),
        ready: c?.ready ?? false,
        restartCount: c?.restartCount ?? 0,
      };
    });
    const status = buildPodStatus(
      {
        restartPolicy: pod.spec.restartPolicy ?? 'Always',
        nodeIp: this.options.nodeIp,
        podIp: rec.sandbox?.podIp,
        startTime: rec.startTime,
        containers,
        waitingReason: rec.waitingReason,
        portMappings: rec.sandbox?.portMappings ?? [],
        now: iso(this.now()),
      },
      rec.status ?? pod.status,
    );
    rec.status = status;
    rec.statusJson = JSON.stringify(status);
  }
}

function portsOf(pod: PodObject): PortMapping[] {
  return pod.spec.containers.flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      containerName: c.name,
      ...(p.name ? { name: p.name } : {}),
      containerPort: p.containerPort,
      hostPort: p.hostPort ?? 0,
      protocol: p.protocol ?? 'TCP',
    })),
  );
}

function specHash(spec: ContainerSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
}

function podKey(rec: PodRecord): string {
  return `${rec.identity.namespace}/${rec.identity.name}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
