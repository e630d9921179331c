/**
 * Carries out computePodActions' plan for one pod on the container runtime: observe (inspect each
 * instance), decide (actions.ts), act in the order given, then probe what runs. Also the pod's
 * graceful stop: the proxies drain it, then the app containers get their preStop hooks and
 * SIGTERM together, then the sidecars, last started first, then the sandbox.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, Pod } from '../../schemas/pod';
import { isoTime } from '../../schemas/time';
import type { NodeDnsFacts } from '../dns/pod-config';
import { podHostDomain } from '../dns/pod-config';
import type { AgentLogger } from '../log';
import type { ProbeTarget } from '../probes';
import type { ContainerInspect, ContainerRuntime } from '../runtime/types';
import { computePodActions, isSidecar, type ObservedContainer, type PodAction } from './actions';
import { ClaimVolumes } from './claims';
import type { ConfigSources } from './config-sources';
import { resolvConfPath, writePodResolvConf } from './dns';
import { runPreStop } from './hooks';
import type { InClusterApi } from './in-cluster';
import { keepExitedLog } from './logs';
import { podFailure } from './pod-failure';
import { allContainers, graceOf, specHash } from './pod-spec';
import { probeContainer } from './probing';
import { type AnyContainer, type ContainerRecord, newContainerRecord, type PodRecord, podKey } from './record';
import type { Allocatable } from './resource-fields';
import { sandboxSysctls } from './security';
import { startContainer } from './start';
import { exitedMessage, podDir } from './termination-message';
import { memoryVolumes, prepareVolume, type VolumeContext, volumeFacts } from './volumes';

export interface ExecutorOptions {
  runtime: ContainerRuntime;
  config: ConfigSources;
  log: AgentLogger;
  now: () => number;
  nodeIp: string;
  stateDir: string;
  backoffBaseMs?: number;
  serviceEnv?: (namespace: string) => { name: string; value: string }[];
  inCluster?: InClusterApi;
  /** The node's DNS facts, for each new sandbox's resolv.conf; absent, Docker's resolver stays. */
  dns?: () => NodeDnsFacts;
  /** The node's allocatable resources, for resourceFieldRef of a container without limits. */
  allocatable?: () => Allocatable;
}

export class PodExecutor {
  /** Where the pods' claims live on this node (the manager feeds it the sync's volumes). */
  readonly claims: ClaimVolumes;

  constructor(private readonly o: ExecutorOptions) {
    this.claims = new ClaimVolumes(o.stateDir, o.log);
  }

  volumeDir(rec: PodRecord, volume: string): string {
    return join(this.o.stateDir, 'pods', rec.identity.uid, 'volumes', volume);
  }

  /** One pass over a pod that is not terminating. */
  async sync(rec: PodRecord, pod: Pod): Promise<void> {
    if (rec.stopping || rec.finished) return;
    const phase = pod.status?.phase;
    if ((phase === 'Succeeded' || phase === 'Failed') && ![...rec.containers.values()].some((c) => c.id)) {
      // Finished before this agent (re)started: nothing to run, and its reported status stands.
      rec.finished = 'before';
      return;
    }
    const now = this.o.now();
    const specs = allContainers(pod);
    const infos = new Map<string, ContainerInspect | undefined>();
    const observed = new Map<string, ObservedContainer>();
    for (const spec of specs) {
      let c = rec.containers.get(spec.name);
      if (!c) {
        c = newContainerRecord(spec.name, specHash(spec));
        rec.containers.set(spec.name, c);
      }
      observed.set(spec.name, await this.observe(c, infos, now));
    }
    const actions = computePodActions(pod.spec, {
      ...podFailure(rec, pod, now, (v) => this.volumeDir(rec, v)),
      sandbox: rec.sandbox !== undefined,
      containers: observed,
      specHash,
      now,
      ...(this.o.backoffBaseMs !== undefined ? { backoffBaseMs: this.o.backoffBaseMs } : {}),
    });
    for (const action of actions) {
      if (!(await this.act(rec, pod, action, infos))) return;
    }
    if (rec.finished) return;
    await this.o.inCluster?.tokens.ensureProjected(pod);
    this.refreshVolumes(rec, pod);
    await this.o.inCluster?.tokens.refresh(pod);
    // Probes of every running container, in parallel: one slow probe must not hold the others.
    await Promise.all(
      specs.map(async (spec) => {
        const c = rec.containers.get(spec.name);
        if (c?.id && 'running' in c.state && !c.unhealthy)
          await probeContainer(c, spec, this.target(rec, c, spec), this.o.now(), graceOf(pod));
      }),
    );
  }

  /** downwardAPI and projected volumes follow the pod's labels and their ConfigMaps/Secrets. */
  private refreshVolumes(rec: PodRecord, pod: Pod): void {
    const ctx = this.volumeContext(rec, pod);
    for (const vol of pod.spec.volumes ?? []) {
      if (!vol.downwardAPI && !vol.projected) continue;
      try {
        prepareVolume(ctx, vol, pod.spec.securityContext?.fsGroup);
      } catch (err) {
        // The running container keeps the files it has; a restart reports the error.
        this.o.log.warn('refreshing a volume failed', { pod: podKey(rec), volume: vol.name, error: String(err) });
      }
    }
  }

  private volumeContext(rec: PodRecord, pod: Pod): VolumeContext {
    return {
      config: this.o.config,
      pod,
      dir: (v) => this.volumeDir(rec, v),
      memoryVolume: (v) => this.o.runtime.memoryVolumeName(rec.identity, v),
      claimPath: (claim) => this.claims.pathOf(pod.metadata.namespace as string, claim),
      facts: volumeFacts(pod, this.o.allocatable, this.o.inCluster?.tokens),
    };
  }

  /** What the runtime shows of the container's instance (and its state, updated). */
  private async observe(
    c: ContainerRecord,
    infos: Map<string, ContainerInspect | undefined>,
    now: number,
  ): Promise<ObservedContainer> {
    const base = {
      started: false,
      done: c.done,
      succeeded: 'terminated' in c.state && c.state.terminated.exitCode === 0,
      ranBefore: c.restartCount > 0 || c.lastState !== undefined || 'terminated' in c.state,
      nextStartAt: c.nextStartAt,
      consecutiveFailures: c.consecutiveFailures,
      ...(c.unhealthy ? { unhealthy: c.unhealthy } : {}),
    };
    if (!c.id) return base;
    const info = await this.o.runtime.inspect(c.id);
    infos.set(c.name, info);
    const startedMs = info?.startedAt ? Date.parse(info.startedAt) : (c.startedAtMs ?? now);
    if (info?.running) {
      c.state = { running: { startedAt: info.startedAt ?? isoTime(startedMs) } };
      c.startedAtMs ??= startedMs;
    }
    return {
      ...base,
      started: info?.running === true && c.started,
      instance: {
        running: info?.running ?? false,
        specHash: c.specHash,
        exitCode: info?.exitCode ?? 137,
        ranForMs: now - startedMs,
      },
    };
  }

  /** Carries out one action; false stops the pass (the sandbox could not be created). */
  private async act(
    rec: PodRecord,
    pod: Pod,
    action: PodAction,
    infos: Map<string, ContainerInspect | undefined>,
  ): Promise<boolean> {
    const now = this.o.now();
    if (action.type === 'createSandbox') return this.createSandbox(rec, pod);
    if (action.type === 'finish') {
      // Every app container exited for good (a Job's pod): free the sandbox and its host ports, as
      // the kubelet does for a terminal pod; the status keeps what it reported.
      rec.finished = 'here';
      if (rec.sandbox) await this.o.runtime.removeSandbox(rec.sandbox.id, rec.identity).catch(() => undefined);
      return true;
    }
    const spec = allContainers(pod).find((s) => s.name === action.container) as AnyContainer;
    const c = rec.containers.get(action.container) as ContainerRecord;
    switch (action.type) {
      case 'kill':
        this.o.log.info('killing container', {
          pod: podKey(rec),
          container: c.name,
          reason: action.reason,
          message: action.message,
        });
        await this.kill(rec, spec, c, action.graceSeconds ?? graceOf(pod));
        break;
      case 'reap':
        await this.reap(rec, c, infos.get(c.name), action, now);
        break;
      case 'backOff': {
        if ('waiting' in c.state && c.state.waiting.reason === 'CreateContainerConfigError') break;
        const waiting =
          'waiting' in c.state && c.state.waiting.reason.includes('Image') ? 'ImagePullBackOff' : 'CrashLoopBackOff';
        c.state = {
          waiting: {
            reason: waiting,
            message: `back-off ${Math.ceil((c.nextStartAt - now) / 1000)}s restarting failed container=${c.name} pod=${podKey(rec)}`,
          },
        };
        break;
      }
      case 'start':
        await this.start(rec, pod, spec, c);
        break;
    }
    return true;
  }

  private async createSandbox(rec: PodRecord, pod: Pod): Promise<boolean> {
    try {
      const dns = this.o.dns?.();
      if (dns) writePodResolvConf(resolvConfPath(this.o.stateDir, rec.identity.uid), pod, dns);
      // Docker sets it as the UTS domain name too, which the kernel caps at 64 bytes: a longer one
      // is left out (the pod keeps its hostname; /etc/hosts then lacks the FQDN line).
      const fqdnDomain =
        dns && podHostDomain({ namespace: rec.identity.namespace, subdomain: pod.spec.subdomain }, dns.domain);
      const domainname = fqdnDomain && fqdnDomain.length <= 64 ? fqdnDomain : undefined;
      rec.sandbox = await this.o.runtime.createSandbox(rec.identity, {
        ports: portsOf(pod),
        hostname: pod.spec.hostname ?? (pod.metadata.name as string),
        ...(domainname ? { domainname } : {}),
        hostAliases: [
          ...(this.o.inCluster?.hostAliases() ?? []),
          ...(pod.spec.hostAliases ?? []).map((a) => ({ ip: a.ip, hostnames: a.hostnames ?? [] })),
        ],
        sysctls: sandboxSysctls(pod),
        memoryVolumes: memoryVolumes(pod),
      });
      rec.startTime ??= isoTime(this.o.now());
      rec.waitingReason = undefined;
      return true;
    } catch (err) {
      rec.waitingReason = { reason: 'SandboxCreateFailed', message: (err as Error).message };
      this.o.log.warn('creating pod sandbox failed', { pod: podKey(rec), error: (err as Error).message });
      return false;
    }
  }

  private async reap(
    rec: PodRecord,
    c: ContainerRecord,
    info: ContainerInspect | undefined,
    action: Extract<PodAction, { type: 'reap' }>,
    now: number,
  ): Promise<void> {
    if (c.id) {
      const exitCode = info?.exitCode ?? action.exitCode;
      await keepExitedLog(this.o.runtime, c);
      c.state = {
        terminated: {
          exitCode,
          reason: info?.oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
          ...(await exitedMessage(this.o.stateDir, rec, c, exitCode)),
          startedAt: info?.startedAt ?? isoTime(c.startedAtMs ?? now),
          finishedAt: info?.finishedAt ?? isoTime(now),
        },
      };
      await this.o.runtime.stopAndRemove(c.id, 0);
      c.id = undefined;
    }
    c.ready = false;
    c.started = false;
    if (!action.restart) {
      c.done = true;
      return;
    }
    c.lastState = c.state;
    c.consecutiveFailures = action.failures;
    c.nextStartAt = now + action.delayMs;
  }

  /** preStop within the grace period, then SIGTERM and SIGKILL after what is left of it. */
  private async kill(rec: PodRecord, spec: Container, c: ContainerRecord, graceSeconds: number): Promise<void> {
    if (!c.id) return;
    const left = await runPreStop(spec, this.target(rec, c, spec), graceSeconds).catch(() => graceSeconds);
    await keepExitedLog(this.o.runtime, c);
    await this.o.runtime.stopAndRemove(c.id, left).catch(() => undefined);
    const now = this.o.now();
    c.state = {
      terminated: {
        exitCode: 137,
        reason: 'Error',
        ...(await exitedMessage(this.o.stateDir, rec, c, 137)),
        startedAt: isoTime(c.startedAtMs ?? now),
        finishedAt: isoTime(now),
      },
    };
    c.id = undefined;
    c.ready = false;
    c.started = false;
    c.unhealthy = undefined;
  }

  private async start(rec: PodRecord, pod: Pod, spec: AnyContainer, c: ContainerRecord): Promise<void> {
    await startContainer(
      {
        ...this.o,
        volumes: this.volumeContext(rec, pod),
        target: () => this.target(rec, c, spec),
        resolvConf: resolvConfPath(this.o.stateDir, rec.identity.uid),
        podDir: podDir(this.o.stateDir, rec.identity.uid),
      },
      rec,
      pod,
      spec,
      c,
    );
  }

  /**
   * The pod's graceful stop within `graceSeconds` (`drained`: ms the drain already took): app
   * containers together, then sidecars last-started first, then the sandbox and the volume dirs.
   */
  async stopPod(rec: PodRecord, graceSeconds: number): Promise<void> {
    const pod = rec.pod;
    const deadline = Date.now() + graceSeconds * 1000;
    const left = () => Math.max(0, (deadline - Date.now()) / 1000);
    const specOf = (name: string) => (pod ? allContainers(pod).find((s) => s.name === name) : undefined);
    const sidecars = new Set((pod?.spec.initContainers ?? []).filter(isSidecar).map((s) => s.name));
    const stop = async (c: ContainerRecord) => {
      const spec = specOf(c.name);
      if (spec) await this.kill(rec, spec, c, left());
      else if (c.id) await this.o.runtime.stopAndRemove(c.id, left());
    };
    const running = [...rec.containers.values()].filter((c) => c.id);
    await Promise.all(running.filter((c) => !sidecars.has(c.name)).map(stop));
    const order = [...(pod?.spec.initContainers ?? [])].reverse();
    for (const s of order) {
      const c = rec.containers.get(s.name);
      if (c?.id) await stop(c);
    }
    if (rec.sandbox) await this.o.runtime.removeSandbox(rec.sandbox.id, rec.identity);
    for (const c of rec.containers.values()) {
      c.id = undefined;
      c.ready = false;
    }
    rmSync(join(this.o.stateDir, 'pods', rec.identity.uid), { recursive: true, force: true });
    this.o.inCluster?.tokens.forget(rec.identity.uid);
  }

  /** Where probes and hooks of this container connect, and how they exec in it. */
  target(rec: PodRecord, c: ContainerRecord, spec: Container): ProbeTarget {
    const mappings = rec.sandbox?.portMappings ?? [];
    const podIp = rec.sandbox?.podIp;
    return {
      host: podIp ?? this.o.nodeIp,
      resolvePort: (port: number | string) => {
        const byName = typeof port === 'string' ? spec.ports?.find((p) => p.name === port)?.containerPort : port;
        if (byName === undefined) return undefined;
        if (podIp) return byName;
        return mappings.find((m) => m.containerPort === byName)?.hostPort;
      },
      exec: (command: string[], timeoutMs: number) =>
        c.id ? this.o.runtime.exec(c.id, command, timeoutMs) : Promise.reject(new Error('container is not running')),
    };
  }
}

/**
 * Whether the pod is initialized: every regular init container succeeded and every sidecar
 * started, or an app container has run already (its init containers were removed long ago).
 */
export function isInitialized(rec: PodRecord, pod: Pod): boolean {
  const ran = pod.spec.containers.some((s) => {
    const c = rec.containers.get(s.name);
    return c !== undefined && (c.id !== undefined || c.done || c.restartCount > 0 || c.lastState !== undefined);
  });
  if (ran) return true;
  return (pod.spec.initContainers ?? []).every((s) => {
    const c = rec.containers.get(s.name);
    if (!c) return false;
    return isSidecar(s as AnyContainer)
      ? c.id !== undefined && c.started
      : c.done && 'terminated' in c.state && c.state.terminated.exitCode === 0;
  });
}

function portsOf(pod: Pod) {
  return allContainers(pod).flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      containerName: c.name,
      ...(p.name ? { name: p.name } : {}),
      containerPort: p.containerPort,
      hostPort: p.hostPort ?? 0,
      protocol: p.protocol ?? 'TCP',
    })),
  );
}
