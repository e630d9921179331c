/**
 * The ContainerRuntime seam: what the pod manager needs from a container engine, from the pod's
 * point of view. Implementations: `docker.ts` (Docker Engine API over its unix socket) and
 * `fake.ts` (in memory, for unit tests). Errors: `ImagePullFailedError` for an image that is
 * missing and cannot be pulled; `RuntimeUnavailableError` when the engine cannot be reached
 * (every call is then safe to retry); anything else is a bug or an engine fault, logged by the caller.
 */
import type { PortMapping } from '../pods/status';

export interface ManagedContainer {
  id: string;
  podUid: string;
  podName: string;
  podNamespace: string;
  role: 'sandbox' | 'container';
  containerName?: string;
  /** Hash of the container spec it was created from: a changed spec means replace. */
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

export interface ContainerSpecLike {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number; hostPort?: number; protocol?: string }[];
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface PodIdentity {
  uid: string;
  name: string;
  namespace: string;
}

export interface PodRuntime {
  /** Engine version (`docker://20.10.24`); throws RuntimeUnavailableError when unreachable. */
  version(): Promise<string>;
  /** Every container this agent created (by label), running or not. */
  listManaged(): Promise<ManagedContainer[]>;
  /**
   * The node's pod network (created on first use): containers reach the node, and so its service
   * proxy, at `gateway`. Pods on one node share it; each node has its own.
   */
  podNetwork(): Promise<{ name: string; gateway: string }>;
  /** Creates and starts the pod's network sandbox, publishing every container port on the node IP. */
  createSandbox(pod: PodIdentity, ports: PortMapping[]): Promise<SandboxInfo>;
  sandboxInfo(id: string, pod: PodIdentity): Promise<SandboxInfo>;
  /** Throws ImagePullFailedError when the image is missing and cannot be pulled. */
  ensureImage(image: string, pullPolicy: string): Promise<void>;
  /** Creates and starts a container inside the sandbox's network namespace. */
  startContainer(
    pod: PodIdentity,
    sandboxId: string,
    spec: ContainerSpecLike,
    env: { name: string; value: string }[],
    volumes: { hostPath: string; mountPath: string; readOnly: boolean }[],
    specHash: string,
    restartCount: number,
  ): Promise<string>;
  inspect(id: string): Promise<ContainerInspect | undefined>;
  /** SIGTERM, then SIGKILL after the grace period; then remove. Safe on a container already gone. */
  stopAndRemove(id: string, graceSeconds: number): Promise<void>;
  exec(id: string, command: string[], timeoutMs: number): Promise<number>;
  /** The last `tailLines` lines of a container's output (stdout and stderr interleaved), at most `limitBytes`. */
  logTail(id: string, options: { tailLines: number; limitBytes: number }): Promise<string>;
}

export class ImagePullFailedError extends Error {}
export class RuntimeUnavailableError extends Error {}
