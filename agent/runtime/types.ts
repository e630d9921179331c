/**
 * The ContainerRuntime seam: what the pod manager needs from a container engine, from the pod's
 * point of view. Implementations: `docker.ts` (Docker Engine API over its unix socket) and
 * `fake.ts` (in memory, for unit tests; it can be told to fail next). One conformance suite
 * (test/conformance/runtime.test.ts) runs over both.
 *
 * Errors: `ImagePullFailedError` for an image that is missing and cannot be pulled;
 * `RuntimeUnavailableError` when the engine cannot be reached (every call is then safe to retry);
 * anything else is a bug or an engine fault (e.g. a create the engine refused), logged by the caller.
 */

/** Where a container port of the pod is published on the node. */
export interface PortMapping {
  containerName: string;
  name?: string;
  containerPort: number;
  hostPort: number;
  protocol: string;
}

export interface ManagedContainer {
  id: string;
  podUid: string;
  podName: string;
  podNamespace: string;
  role: 'sandbox' | 'container';
  containerName?: string;
  /** Hash of the container spec it was created from: the pod manager replaces it when the spec's differs. */
  specHash?: string;
  /** Restarts before this container was created (kept in a label so a restarted agent knows it). */
  restartCount?: number;
  running: boolean;
}

export interface ContainerInspect {
  running: boolean;
  exitCode: number;
  startedAt?: string;
  finishedAt?: string;
  oomKilled: boolean;
}

export interface SandboxInfo {
  id: string;
  podIp?: string;
  portMappings: PortMapping[];
}

export interface PodNetwork {
  name: string;
  gateway: string;
  /** The node's interface of the network (Linux bridge), when the runtime has one. */
  bridge?: string;
}

/** What the pod's sandbox (its network namespace) is created with. */
export interface SandboxConfig {
  ports: PortMapping[];
  /** The pod's hostname (`spec.hostname`, else its name), which its containers share. */
  hostname?: string;
  /**
   * The pod's domain when it has a subdomain (`<subdomain>.<ns>.svc.<cluster domain>`): /etc/hosts
   * then maps the pod IP to `<hostname>.<domain>` and `<hostname>`, as the kubelet writes it.
   */
  domainname?: string;
  /** Extra /etc/hosts entries (`hostAliases`): the containers share the sandbox's hosts file. */
  hostAliases?: { ip: string; hostnames: string[] }[];
  /** Namespaced network sysctls (`net.*`): they belong to the namespace the sandbox owns. */
  sysctls?: Record<string, string>;
  /**
   * emptyDirs with `medium: Memory`: tmpfs volumes created with the sandbox and held by it, so the
   * pod's containers share them and their contents outlive a container restart; removed with it.
   */
  memoryVolumes?: { name: string; sizeBytes?: number /** fsGroup: group-owned, setgid */; gid?: number }[];
}

export type Mount =
  | { kind: 'bind'; hostPath: string; mountPath: string; readOnly: boolean }
  /** One of the pod's memory volumes (SandboxConfig.memoryVolumes), by the name `memoryVolume` gives. */
  | { kind: 'volume'; volume: string; mountPath: string; readOnly: boolean };

/** The container's process identity and privileges (its securityContext, resolved). */
export interface SecurityConfig {
  /** `uid` or `uid:gid`. */
  user?: string;
  groupAdd?: string[];
  readOnlyRootfs?: boolean;
  /** Docker's security options: `no-new-privileges`, `seccomp=unconfined`, `apparmor=unconfined`. */
  securityOpt?: string[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  /** Non-network namespaced sysctls (`kernel.shm*`, ...), set on the container's own namespace. */
  sysctls?: Record<string, string>;
}

export interface ContainerConfig {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env: { name: string; value: string }[];
  mounts: Mount[];
  /** Written to a label: the pod manager compares it to the spec's to decide a replace. */
  specHash: string;
  restartCount: number;
  cpuMillis?: number;
  memoryBytes?: number;
  security: SecurityConfig;
  /** `shareProcessNamespace`: the container joins the sandbox's PID namespace. */
  sharePid?: boolean;
  tty?: boolean;
  stdin?: boolean;
}

/**
 * One reading of a container's resource use (the Docker stats API, one shot). CPU is the
 * cumulative time used, so a rate needs two readings (agent/metrics/ keeps the previous one).
 */
export interface ContainerStats {
  /** CPU time used since the container started, nanoseconds (cgroup `usage_usec` / cpuacct). */
  cpuUsageNanos: number;
  /** Working set: memory usage minus inactive file cache, as the kubelet and cAdvisor report it. */
  memoryWorkingSetBytes: number;
}

/** Registry credentials for one pull (from a `kubernetes.io/dockerconfigjson` Secret); never persisted. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress: string;
}

export interface PodIdentity {
  uid: string;
  name: string;
  namespace: string;
}

export interface ContainerRuntime {
  /** Engine version (`docker://20.10.24`); throws RuntimeUnavailableError when unreachable. */
  version(): Promise<string>;
  /** Every container this agent created (by label), running or not. */
  listManaged(): Promise<ManagedContainer[]>;
  /**
   * The node's pod network (created on first use): containers reach the node, and so its service
   * proxy, at `gateway`. Pods on one node share it; each node has its own. `bridge` is its
   * interface on the node, where the agent redirects cluster IPs (agent/proxy/cluster-ip-rules.ts).
   */
  podNetwork(): Promise<PodNetwork>;
  /** Creates and starts the pod's network sandbox, publishing every container port on the node IP. */
  createSandbox(pod: PodIdentity, config: SandboxConfig): Promise<SandboxInfo>;
  sandboxInfo(id: string, pod: PodIdentity): Promise<SandboxInfo>;
  /** The runtime's name for the pod's memory volume `volume` (what a `volume` Mount names). */
  memoryVolumeName(pod: PodIdentity, volume: string): string;
  /** Stops and removes the sandbox and the pod's memory volumes. Safe when already gone. */
  removeSandbox(id: string, pod: PodIdentity): Promise<void>;
  /**
   * Throws ImagePullFailedError when the image is missing and cannot be pulled. `auth` is tried
   * in order for a pull (the pod's imagePullSecrets matching the image's registry).
   */
  ensureImage(image: string, pullPolicy: string, auth?: RegistryAuth[]): Promise<void>;
  /** The user an image runs as when the pod sets none (`''` means root), for runAsNonRoot. */
  imageUser(image: string): Promise<string>;
  /** Creates and starts a container inside the sandbox's network namespace; resolves to its id. */
  startContainer(pod: PodIdentity, sandboxId: string, config: ContainerConfig): Promise<string>;
  /** undefined when the container is gone. */
  inspect(id: string): Promise<ContainerInspect | undefined>;
  /** SIGTERM, then SIGKILL after the grace period; then remove. Safe on a container already gone. */
  stopAndRemove(id: string, graceSeconds: number): Promise<void>;
  /** Runs a command in a running container; resolves to its exit code (timeout: rejects). */
  exec(id: string, command: string[], timeoutMs: number): Promise<number>;
  /** The last `tailLines` lines of a container's output (stdout and stderr interleaved), at most `limitBytes`. */
  logTail(id: string, options: { tailLines: number; limitBytes: number }): Promise<string>;
  /**
   * Runs `command` in a running container with its stdio streamed (kubectl exec). Rejects when
   * the engine refuses to create or start it (no such container, not running); a command that
   * cannot be executed starts and ends with the engine's exit code (126/127) and message.
   */
  execStream(id: string, command: string[], options: StdioOptions, onOutput: OutputListener): Promise<StdioStream>;
  /** Streams a running container's own stdio (kubectl attach); `done` gives its exit code if it ended. */
  attachStream(id: string, options: StdioOptions, onOutput: OutputListener): Promise<StdioStream>;
  /** A container's output from the engine's log (kubectl logs -f, --since, --timestamps); ends when it stops. */
  logStream(id: string, options: LogStreamOptions, onOutput: OutputListener): Promise<StdioStream>;
  /** One reading of a running container's CPU and memory use; undefined when it is gone or stopped. */
  stats(id: string): Promise<ContainerStats | undefined>;
}

/** Which of the process' streams a session carries, and whether it has a terminal. */
export interface StdioOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface LogStreamOptions {
  follow: boolean;
  /** Absent: the whole log. */
  tailLines?: number;
  /** Unix seconds (fractional): only output at or after it. */
  since?: number;
  /** Each line starts with its RFC 3339 (nanosecond) time. */
  timestamps: boolean;
}

/** Output as the process writes it: 1 stdout, 2 stderr (with a TTY all of it arrives as stdout). */
export type OutputListener = (channel: 1 | 2, data: Buffer) => void;

/** A streamed process (or log): its input, terminal size, and end. */
export interface StdioStream {
  write(data: Buffer): void;
  /** End of input: the process reads EOF. */
  endInput(): void;
  /** The terminal's size (with a TTY); errors are ignored, as the process may have just ended. */
  resize(width: number, height: number): Promise<void>;
  /**
   * Settles once the output has ended: the process' exit code, or undefined when there is none
   * (a followed log, an attached container still running). Never rejects.
   */
  done: Promise<number | undefined>;
  /** Stops streaming (the client went away). An exec'd process is not killed, unless losing its terminal ends it. */
  close(): void;
}

export class ImagePullFailedError extends Error {
  override readonly name = 'ImagePullFailedError';
}
export class RuntimeUnavailableError extends Error {
  override readonly name = 'RuntimeUnavailableError';
}
