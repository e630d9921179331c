/**
 * An in-memory PodRuntime for unit tests of the pod manager: containers "run" until stopped, and
 * every call is recorded with the time it was made, so a test can assert the order of events
 * (e.g. that SIGTERM came only after the proxies dropped a pod). Not used by the agent itself.
 */
import type { PortMapping } from '../pods/status';
import { tailOf } from './log-tail';
import type {
  ContainerInspect,
  ContainerSpecLike,
  ManagedContainer,
  PodIdentity,
  PodRuntime,
  SandboxInfo,
} from './types';

interface FakeContainer extends ManagedContainer {
  env: { name: string; value: string }[];
  volumes?: { hostPath: string; mountPath: string; readOnly: boolean }[];
  /** What the container "printed": tests set it. */
  output?: string;
  startedAt: string;
}

export class FakeRuntime implements PodRuntime {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: { at: number; call: string; id?: string }[] = [];
  private next = 0;
  private nextHostPort = 40000;

  constructor(private readonly now: () => number = Date.now) {}

  async version(): Promise<string> {
    return 'fake://1.0';
  }

  async listManaged(): Promise<ManagedContainer[]> {
    return [...this.containers.values()];
  }

  async podNetwork(): Promise<{ name: string; gateway: string }> {
    return { name: 'ferry-fake', gateway: '10.99.0.1' };
  }

  async createSandbox(pod: PodIdentity, ports: PortMapping[]): Promise<SandboxInfo> {
    const id = `sandbox-${++this.next}`;
    const portMappings = ports.map((p) => ({ ...p, hostPort: p.hostPort || this.nextHostPort++ }));
    this.add(id, pod, 'sandbox', []);
    this.record('createSandbox', id);
    return { id, podIp: `10.99.0.${this.next + 1}`, portMappings };
  }

  async sandboxInfo(id: string): Promise<SandboxInfo> {
    return { id, portMappings: [] };
  }

  async ensureImage(): Promise<void> {}

  async startContainer(
    pod: PodIdentity,
    _sandboxId: string,
    spec: ContainerSpecLike,
    env: { name: string; value: string }[],
    volumes: { hostPath: string; mountPath: string; readOnly: boolean }[],
    specHash: string,
    restartCount: number,
  ): Promise<string> {
    const id = `container-${++this.next}`;
    const c = this.add(id, pod, 'container', env);
    c.volumes = volumes;
    c.containerName = spec.name;
    c.specHash = specHash;
    c.restartCount = restartCount;
    this.record('startContainer', id);
    return id;
  }

  async inspect(id: string): Promise<ContainerInspect | undefined> {
    const c = this.containers.get(id);
    if (!c) return undefined;
    return { running: c.running, exitCode: 0, oomKilled: false, startedAt: c.startedAt };
  }

  async stopAndRemove(id: string): Promise<void> {
    if (this.containers.delete(id)) this.record('stopAndRemove', id);
  }

  async exec(): Promise<number> {
    return 0;
  }

  async logTail(id: string, options: { tailLines: number; limitBytes: number }): Promise<string> {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no such container: ${id}`);
    return tailOf(c.output ?? '', options);
  }

  private add(id: string, pod: PodIdentity, role: 'sandbox' | 'container', env: FakeContainer['env']) {
    const c: FakeContainer = {
      id,
      podUid: pod.uid,
      podName: pod.name,
      podNamespace: pod.namespace,
      role,
      running: true,
      env,
      startedAt: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    this.containers.set(id, c);
    return c;
  }

  private record(call: string, id: string): void {
    this.calls.push({ at: this.now(), call, id });
  }
}
