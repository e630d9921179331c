/**
 * Longer than 400 lines because it is the one Docker implementation of the seam (its HTTP client is
 * docker-api.ts, output tails log-tail.ts, streamed exec/attach/logs docker-streams.ts); splitting pod network, sandbox and container calls
 * into files is the next step when it grows.
 *
 * The Docker implementation of the ContainerRuntime seam. Every container carries labels (pod uid,
 * name, namespace, container name, role, spec hash, restart count, node) so a restarted agent
 * adopts what runs; nothing without `ferry.managed=true` and this node's label is ever touched.
 * Docker errors are translated here; none leaves this file.
 */
import { DockerApi, DockerError } from './docker-api';
import { demuxInterleaved } from './docker-frames';
import { DockerStreams } from './docker-streams';
import { tailOf } from './log-tail';
import {
  type ContainerConfig,
  type ContainerInspect,
  type ContainerRuntime,
  type ContainerStats,
  ImagePullFailedError,
  type LogStreamOptions,
  type ManagedContainer,
  type OutputListener,
  type PodIdentity,
  type PodNetwork,
  type PortMapping,
  type RegistryAuth,
  type SandboxConfig,
  type SandboxInfo,
  type StdioOptions,
  type StdioStream,
} from './types';

const L = {
  managed: 'ferry.managed',
  node: 'ferry.node',
  cluster: 'ferry.cluster',
  uid: 'ferry.pod.uid',
  name: 'ferry.pod.name',
  namespace: 'ferry.pod.namespace',
  role: 'ferry.role',
  container: 'ferry.container.name',
  hash: 'ferry.spec-hash',
  restarts: 'ferry.restart-count',
  ports: 'ferry.ports',
} as const;

interface DockerContainerSummary {
  Id: string;
  Labels: Record<string, string>;
  State: string;
}

interface DockerInspect {
  Id: string;
  State: { Running: boolean; ExitCode: number; StartedAt: string; FinishedAt: string; OOMKilled: boolean };
  NetworkSettings: {
    IPAddress?: string;
    Ports?: Record<string, { HostIp: string; HostPort: string }[] | null>;
    Networks?: Record<string, { IPAddress?: string }>;
  };
  Config: { Labels: Record<string, string> };
}

export interface DockerRuntimeOptions {
  socketPath: string;
  nodeName: string;
  /** Labels every container and the pod network, and scopes what this runtime lists and removes. */
  clusterId?: string;
  nodeIp: string;
  sandboxImage: string;
}

interface DockerNetwork {
  Id: string;
  Name: string;
  Options?: Record<string, string>;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] };
}

export class DockerRuntime implements ContainerRuntime {
  private readonly api: DockerApi;
  private network: Promise<PodNetwork> | undefined;

  private readonly streams: DockerStreams;

  constructor(private readonly options: DockerRuntimeOptions) {
    this.api = new DockerApi(options.socketPath);
    this.streams = new DockerStreams(this.api, options.socketPath);
  }

  async version(): Promise<string> {
    const v = await this.api.json<{ Version: string }>('GET', '/version');
    return `docker://${v.Version}`;
  }

  async listManaged(): Promise<ManagedContainer[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: this.scope() }));
    const list = await this.api.json<DockerContainerSummary[]>('GET', `/containers/json?all=1&filters=${filters}`);
    return list.map((c) => ({
      id: c.Id,
      podUid: c.Labels[L.uid] ?? '',
      podName: c.Labels[L.name] ?? '',
      podNamespace: c.Labels[L.namespace] ?? '',
      role: c.Labels[L.role] === 'sandbox' ? 'sandbox' : 'container',
      ...(c.Labels[L.container] ? { containerName: c.Labels[L.container] } : {}),
      ...(c.Labels[L.hash] ? { specHash: c.Labels[L.hash] } : {}),
      restartCount: Number(c.Labels[L.restarts] ?? 0),
      running: c.State === 'running',
    }));
  }

  /** The label filter of what this node owns: managed, this node, and this cluster when it has one. */
  private scope(): string[] {
    const clusterId = this.options.clusterId;
    return [
      `${L.managed}=true`,
      `${L.node}=${this.options.nodeName}`,
      ...(clusterId ? [`${L.cluster}=${clusterId}`] : []),
    ];
  }

  private ownerLabels(): Record<string, string> {
    const clusterId = this.options.clusterId;
    return { [L.managed]: 'true', [L.node]: this.options.nodeName, ...(clusterId ? { [L.cluster]: clusterId } : {}) };
  }

  private labels(pod: PodIdentity, role: 'sandbox' | 'container'): Record<string, string> {
    return {
      ...this.ownerLabels(),
      [L.uid]: pod.uid,
      [L.name]: pod.name,
      [L.namespace]: pod.namespace,
      [L.role]: role,
    };
  }

  podNetwork(): Promise<PodNetwork> {
    this.network ??= this.ensureNetwork().catch((err) => {
      this.network = undefined;
      throw err;
    });
    return this.network;
  }

  /** A bridge network per node (`ferry-<node>`, subnet chosen by Docker), so two local nodes never share a gateway. */
  private async ensureNetwork(): Promise<PodNetwork> {
    // Two clusters on one machine may both have a node `local-1`: the cluster id keeps their networks apart.
    const clusterId = this.options.clusterId;
    const name = (clusterId ? `ferry-${clusterId}-${this.options.nodeName}` : `ferry-${this.options.nodeName}`).slice(
      0,
      64,
    );
    const path = `/networks/${encodeURIComponent(name)}`;
    let res = await this.api.call('GET', path);
    if (res.status === 404) {
      const created = await this.api.call('POST', '/networks/create', {
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: this.ownerLabels(),
      });
      // 409: another agent process for this node created it first.
      if (![201, 409].includes(created.status))
        throw new DockerError(`docker network create ${name}: ${created.status}`, created.status);
      res = await this.api.call('GET', path);
    }
    if (res.status !== 200) throw new DockerError(`docker network inspect ${name}: ${res.status}`, res.status);
    const net = JSON.parse(res.body.toString('utf8')) as DockerNetwork;
    const gateway = net.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    if (!gateway) throw new DockerError(`docker network ${name} has no gateway address`, 500);
    // Docker names a user network's bridge br-<first 12 of its id> unless the network names it.
    const bridge = net.Options?.['com.docker.network.bridge.name'] ?? `br-${net.Id.slice(0, 12)}`;
    return { name, gateway, bridge };
  }

  async createSandbox(pod: PodIdentity, config: SandboxConfig): Promise<SandboxInfo> {
    const ports = config.ports;
    await this.ensureImage(this.options.sandboxImage, 'IfNotPresent');
    const network = await this.podNetwork();
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of ports) {
      const key = `${p.containerPort}/${p.protocol.toLowerCase()}`;
      exposed[key] = {};
      bindings[key] = [{ HostIp: this.options.nodeIp, HostPort: p.hostPort ? String(p.hostPort) : '' }];
    }
    const memory = config.memoryVolumes ?? [];
    for (const v of memory) {
      await this.api.json('POST', '/volumes/create', {
        Name: this.memoryVolumeName(pod, v.name),
        Driver: 'local',
        // A tmpfs mounted while the sandbox holds it: world-writable like an emptyDir, sized by sizeLimit.
        DriverOpts: {
          type: 'tmpfs',
          device: 'tmpfs',
          o: [
            v.gid !== undefined ? `mode=2777,gid=${v.gid}` : 'mode=1777',
            ...(v.sizeBytes ? [`size=${v.sizeBytes}`] : []),
          ].join(','),
        },
        Labels: { ...this.labels(pod, 'sandbox') },
      });
    }
    const created = await this.api.json<{ Id: string }>(
      'POST',
      `/containers/create?name=${containerName(pod, 'sandbox', 0)}`,
      {
        Image: this.options.sandboxImage,
        Hostname: (config.hostname ?? pod.name).slice(0, 63),
        ...(config.domainname ? { Domainname: config.domainname } : {}),
        Labels: { ...this.labels(pod, 'sandbox'), [L.ports]: JSON.stringify(ports) },
        ExposedPorts: exposed,
        HostConfig: {
          PortBindings: bindings,
          RestartPolicy: { Name: 'no' },
          NetworkMode: network.name,
          // A pod's containers share one IPC namespace (SysV IPC, POSIX queues, /dev/shm), as the
          // kubelet gives them the sandbox's: the sandbox's is made joinable.
          IpcMode: 'shareable',
          Mounts: memory.map((v) => ({
            Type: 'volume',
            Source: this.memoryVolumeName(pod, v.name),
            Target: `/ferry/memory/${v.name}`,
          })),
          // The pod's containers join this network namespace and share its /etc/hosts.
          ExtraHosts: (config.hostAliases ?? []).flatMap((a) => a.hostnames.map((h) => `${h}:${a.ip}`)),
          ...(config.sysctls && Object.keys(config.sysctls).length ? { Sysctls: config.sysctls } : {}),
        },
      },
    );
    try {
      await this.api.json('POST', `/containers/${created.Id}/start`);
    } catch (err) {
      await this.remove(created.Id);
      throw err;
    }
    return this.sandboxInfo(created.Id, pod);
  }

  memoryVolumeName(pod: PodIdentity, volume: string): string {
    return `ferry_${pod.uid}_${volume}`;
  }

  async removeSandbox(id: string, pod: PodIdentity): Promise<void> {
    await this.stopAndRemove(id, 0);
    const filters = encodeURIComponent(
      JSON.stringify({ label: [`${L.uid}=${pod.uid}`, `${L.node}=${this.options.nodeName}`] }),
    );
    const list = await this.api.json<{ Volumes: { Name: string }[] | null }>('GET', `/volumes?filters=${filters}`);
    for (const v of list.Volumes ?? []) {
      const res = await this.api.call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
      if (![204, 404].includes(res.status))
        throw new DockerError(`docker volume rm ${v.Name}: ${res.status}`, res.status);
    }
  }

  async sandboxInfo(id: string, _pod: PodIdentity): Promise<SandboxInfo> {
    const info = await this.api.json<DockerInspect>('GET', `/containers/${id}/json`);
    const declared = JSON.parse(info.Config.Labels[L.ports] ?? '[]') as PortMapping[];
    const portMappings = declared.map((p) => {
      const bound = info.NetworkSettings.Ports?.[`${p.containerPort}/${p.protocol.toLowerCase()}`]?.[0];
      return { ...p, hostPort: bound ? Number(bound.HostPort) : p.hostPort };
    });
    // On a user-defined network the address is under Networks, not the legacy top-level field.
    const podIp =
      info.NetworkSettings.IPAddress ||
      Object.values(info.NetworkSettings.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
    return { id, ...(podIp ? { podIp } : {}), portMappings };
  }

  async ensureImage(image: string, pullPolicy: string, auth: RegistryAuth[] = []): Promise<void> {
    const present = (await this.api.call('GET', `/images/${encodeURIComponent(image)}/json`)).status === 200;
    if (present && pullPolicy !== 'Always') return;
    if (pullPolicy === 'Never') {
      if (!present) throw new ImagePullFailedError(`image ${image} is not present and imagePullPolicy is Never`);
      return;
    }
    const [name, tag] = splitImage(image);
    // Each credential in turn, then anonymously, as the kubelet tries the pod's pull secrets.
    let res: { status: number; body: Buffer } | undefined;
    let text = '';
    for (const cred of [...auth, undefined]) {
      res = await this.api.call(
        'POST',
        `/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`,
        undefined,
        300_000,
        // In a header only: never in a URL, a file or a log line.
        cred ? { 'x-registry-auth': Buffer.from(JSON.stringify(cred)).toString('base64url') } : {},
      );
      text = res.body.toString('utf8');
      if (res.status === 200 && !/"error"/.test(text)) break;
    }
    if (!res) return;
    const failed = res.status !== 200 || /"error"/.test(text);
    // A failed pull of an image we already have (Always) still runs what is present, as Docker does.
    if (failed && !present) {
      const detail =
        /"message":"([^"]+)"/.exec(text)?.[1] ?? /"error":"([^"]+)"/.exec(text)?.[1] ?? `status ${res.status}`;
      throw new ImagePullFailedError(`pulling image "${image}": ${detail}`);
    }
  }

  async imageUser(image: string): Promise<string> {
    const info = await this.api.json<{ Config?: { User?: string } }>(
      'GET',
      `/images/${encodeURIComponent(image)}/json`,
    );
    return info.Config?.User ?? '';
  }

  async startContainer(pod: PodIdentity, sandboxId: string, config: ContainerConfig): Promise<string> {
    const sec = config.security;
    const created = await this.api.json<{ Id: string }>(
      'POST',
      `/containers/create?name=${containerName(pod, config.name, config.restartCount)}`,
      {
        Image: config.image,
        ...(config.command ? { Entrypoint: config.command } : {}),
        ...(config.args ? { Cmd: config.args } : {}),
        ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
        ...(sec.user ? { User: sec.user } : {}),
        ...(config.tty ? { Tty: true } : {}),
        ...(config.stdin ? { OpenStdin: true } : {}),
        Env: config.env.map((e) => `${e.name}=${e.value}`),
        Labels: {
          ...this.labels(pod, 'container'),
          [L.container]: config.name,
          [L.hash]: config.specHash,
          [L.restarts]: String(config.restartCount),
        },
        HostConfig: {
          NetworkMode: `container:${sandboxId}`,
          IpcMode: `container:${sandboxId}`,
          ...(config.sharePid ? { PidMode: `container:${sandboxId}` } : {}),
          Binds: config.mounts.flatMap((m) =>
            m.kind === 'bind' ? [`${m.hostPath}:${m.mountPath}${m.readOnly ? ':ro' : ''}`] : [],
          ),
          Mounts: config.mounts.flatMap((m) =>
            m.kind === 'volume'
              ? [{ Type: 'volume', Source: m.volume, Target: m.mountPath, ReadOnly: m.readOnly }]
              : [],
          ),
          RestartPolicy: { Name: 'no' },
          ...(config.cpuMillis !== undefined ? { NanoCpus: config.cpuMillis * 1_000_000 } : {}),
          ...(config.memoryBytes !== undefined ? { Memory: config.memoryBytes } : {}),
          ...(sec.groupAdd?.length ? { GroupAdd: sec.groupAdd } : {}),
          ...(sec.readOnlyRootfs ? { ReadonlyRootfs: true } : {}),
          ...(sec.securityOpt?.length ? { SecurityOpt: sec.securityOpt } : {}),
          ...(sec.capAdd?.length ? { CapAdd: sec.capAdd } : {}),
          ...(sec.capDrop?.length ? { CapDrop: sec.capDrop } : {}),
          ...(sec.privileged ? { Privileged: true } : {}),
          ...(sec.sysctls && Object.keys(sec.sysctls).length ? { Sysctls: sec.sysctls } : {}),
        },
      },
    );
    try {
      await this.api.json('POST', `/containers/${created.Id}/start`);
    } catch (err) {
      await this.remove(created.Id);
      throw err;
    }
    return created.Id;
  }

  async inspect(id: string): Promise<ContainerInspect | undefined> {
    const res = await this.api.call('GET', `/containers/${id}/json`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new DockerError(`docker inspect ${id}: ${res.status}`, res.status);
    const s = (JSON.parse(res.body.toString('utf8')) as DockerInspect).State;
    return {
      running: s.Running,
      exitCode: s.ExitCode,
      oomKilled: s.OOMKilled,
      ...(s.StartedAt && !s.StartedAt.startsWith('0001') ? { startedAt: s.StartedAt.replace(/\.\d+Z$/, 'Z') } : {}),
      ...(s.FinishedAt && !s.FinishedAt.startsWith('0001') ? { finishedAt: s.FinishedAt.replace(/\.\d+Z$/, 'Z') } : {}),
    };
  }

  async stopAndRemove(id: string, graceSeconds: number): Promise<void> {
    // Docker's stop is SIGTERM, then SIGKILL after t seconds: the kubelet's graceful stop.
    const res = await this.api.call(
      'POST',
      `/containers/${id}/stop?t=${Math.max(0, Math.floor(graceSeconds))}`,
      undefined,
      (graceSeconds + 30) * 1000,
    );
    if (![204, 304, 404].includes(res.status)) throw new DockerError(`docker stop ${id}: ${res.status}`, res.status);
    await this.remove(id);
  }

  async exec(id: string, command: string[], timeoutMs: number): Promise<number> {
    const created = await this.api.json<{ Id: string }>('POST', `/containers/${id}/exec`, {
      Cmd: command,
      AttachStdout: true,
      AttachStderr: true,
    });
    const started = this.api.call('POST', `/exec/${created.Id}/start`, { Detach: false, Tty: false }, timeoutMs);
    await started;
    const info = await this.api.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${created.Id}/json`);
    return info.ExitCode ?? 1;
  }

  async logTail(id: string, options: { tailLines: number; limitBytes: number }): Promise<string> {
    const res = await this.api.call('GET', `/containers/${id}/logs?stdout=1&stderr=1&tail=${options.tailLines}`);
    if (res.status !== 200) throw new DockerError(`docker logs ${id}: ${res.status}`, res.status);
    return tailOf(demuxInterleaved(res.body), options);
  }

  execStream(id: string, command: string[], options: StdioOptions, onOutput: OutputListener): Promise<StdioStream> {
    return this.streams.exec(id, command, options, onOutput);
  }

  attachStream(id: string, options: StdioOptions, onOutput: OutputListener): Promise<StdioStream> {
    return this.streams.attach(id, options, onOutput);
  }

  logStream(id: string, options: LogStreamOptions, onOutput: OutputListener): Promise<StdioStream> {
    return this.streams.logs(id, options, onOutput);
  }

  async stats(id: string): Promise<ContainerStats | undefined> {
    // one-shot: no second reading taken by the engine (a second per call); the agent keeps its own.
    const res = await this.api.call('GET', `/containers/${id}/stats?stream=false&one-shot=true`, undefined, 10_000);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new DockerError(`docker stats ${id}: ${res.status}`, res.status);
    return statsOf(JSON.parse(res.body.toString('utf8')) as DockerStats);
  }

  private async remove(id: string): Promise<void> {
    const res = await this.api.call('DELETE', `/containers/${id}?force=1&v=1`);
    if (![204, 404, 409].includes(res.status)) throw new DockerError(`docker rm ${id}: ${res.status}`, res.status);
  }
}

interface DockerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
}

/**
 * The reading from a stats answer. Working set as cAdvisor computes it: usage minus inactive file
 * pages (`inactive_file` on cgroup v2, `total_inactive_file` on v1), never below zero. A stopped
 * container answers with empty stats: no reading.
 */
export function statsOf(s: DockerStats): ContainerStats | undefined {
  const cpu = s.cpu_stats?.cpu_usage?.total_usage;
  const usage = s.memory_stats?.usage;
  if (cpu === undefined || usage === undefined) return undefined;
  const stats = s.memory_stats?.stats ?? {};
  const inactive = stats.inactive_file ?? stats.total_inactive_file ?? 0;
  return { cpuUsageNanos: cpu, memoryWorkingSetBytes: Math.max(0, usage - inactive) };
}

/** Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]; Kubernetes names fit. */
function containerName(pod: PodIdentity, container: string, restart: number): string {
  return `ferry_${pod.namespace}_${pod.name}_${container}_${pod.uid.slice(0, 8)}_${restart}`;
}

function splitImage(image: string): [string, string] {
  const at = image.indexOf('@');
  if (at !== -1) return [image.slice(0, at), image.slice(at + 1)];
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, 'latest'];
}
