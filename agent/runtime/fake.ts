/**
 * An in-memory ContainerRuntime for unit tests of the pod manager (Karpenter's fake cloud provider
 * is the model): containers "run" until stopped or told to exit, every call is recorded with the
 * time it was made (so a test can assert the order of events, e.g. that SIGTERM came only after
 * the proxies dropped a pod), and a test can make the next create, start or pull fail. Not used
 * by the agent itself.
 */
import { isoTime as iso } from '../../schemas/time';
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
  type RegistryAuth,
  type SandboxConfig,
  type SandboxInfo,
  type StdioOptions,
  type StdioStream,
} from './types';

/**
 * A process the fake "runs" for execStream: it writes output and exits through `io`. The default
 * (fakeProcess) knows `echo`, `cat` (stdin to stdout until EOF), `sh -c 'exit N'` and `false`.
 */
export type FakeProcess = (command: string[], io: FakeIo) => void;
export interface FakeIo {
  options: StdioOptions;
  out(channel: 1 | 2, text: string): void;
  exit(code: number): void;
  /** Input as the client sends it; `undefined` is the end of input. */
  onInput(listener: (data: Buffer | undefined) => void): void;
}

export interface FakeContainer extends ManagedContainer {
  env: { name: string; value: string }[];
  /** What it was started with (a sandbox has none). */
  config?: ContainerConfig;
  sandbox?: SandboxConfig;
  /** What the container "printed": tests set it. */
  output?: string;
  /** Its resource use: CPU in cores (accrues with the clock), memory working set in bytes; tests set it. */
  usage?: { cores: number; memoryBytes: number };
  /** CPU time accrued before the last change of `usage.cores` (setUsage keeps the counter monotonic). */
  cpuBase?: { nanos: number; at: number };
  exitCode: number;
  startedAt: string;
  finishedAt?: string;
}

type Failable = 'createSandbox' | 'startContainer' | 'ensureImage';

export class FakeRuntime implements ContainerRuntime {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: { at: number; call: string; id?: string; detail?: string }[] = [];
  /** Images present on the "node"; a pull of any other image succeeds unless told to fail. */
  readonly images = new Map<string, { user: string }>();
  /** Credentials each pull was given, for tests of imagePullSecrets. */
  readonly pulls: { image: string; auth: RegistryAuth[] }[] = [];
  /** exec results by command[0] (default 0); a test sets them. */
  readonly execResults = new Map<string, number>();
  private readonly failures = new Map<Failable, Error[]>();
  private next = 0;
  private nextHostPort = 40000;

  constructor(private readonly now: () => number = Date.now) {}

  /** The next call of `call` throws `error` (Karpenter's NextCreateErr); queued per call. */
  failNext(call: Failable, error?: Error): void {
    const err =
      error ?? (call === 'ensureImage' ? new ImagePullFailedError('pulling image: fake pull failure') : undefined);
    this.failures.set(call, [...(this.failures.get(call) ?? []), err ?? new Error(`fake ${call} failure`)]);
  }

  /** The container exits with `code` now, as if its process ended. */
  exit(id: string, code: number): void {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no such container: ${id}`);
    c.running = false;
    c.exitCode = code;
    c.finishedAt = iso(this.now());
    for (const f of this.followers.get(id) ?? []) f.end();
  }

  /**
   * The container uses `cores` of CPU from now on (its cumulative CPU time grows at that rate with
   * the runtime's clock) and `memoryBytes` of working set.
   */
  setUsage(id: string, cores: number, memoryBytes: number): void {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no such container: ${id}`);
    c.cpuBase = { nanos: this.cpuNanos(c), at: this.now() };
    c.usage = { cores, memoryBytes };
  }

  private cpuNanos(c: FakeContainer): number {
    const base = c.cpuBase ?? { nanos: 0, at: Date.parse(c.startedAt) };
    return base.nanos + (c.usage?.cores ?? 0) * Math.max(0, this.now() - base.at) * 1e6;
  }

  /** The running app container named `name` (the newest instance), for tests. */
  byName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].filter((c) => c.containerName === name).at(-1);
  }

  async version(): Promise<string> {
    return 'fake://1.0';
  }

  async listManaged(): Promise<ManagedContainer[]> {
    return [...this.containers.values()];
  }

  async podNetwork(): Promise<PodNetwork> {
    return { name: 'ferry-fake', gateway: '10.99.0.1' };
  }

  async createSandbox(pod: PodIdentity, config: SandboxConfig): Promise<SandboxInfo> {
    this.failIfTold('createSandbox');
    const id = `sandbox-${++this.next}`;
    const portMappings = config.ports.map((p) => ({ ...p, hostPort: p.hostPort || this.nextHostPort++ }));
    this.add(id, pod, 'sandbox', []).sandbox = config;
    this.record('createSandbox', id);
    // A valid address however many sandboxes a long test makes (a fourth octet past 255 is a host name to resolve).
    const n = this.next + 1;
    return { id, podIp: `10.99.${(n >> 8) & 255}.${n & 255}`, portMappings };
  }

  async sandboxInfo(id: string): Promise<SandboxInfo> {
    return { id, portMappings: [] };
  }

  memoryVolumeName(pod: PodIdentity, volume: string): string {
    return `fake_${pod.uid}_${volume}`;
  }

  async removeSandbox(id: string): Promise<void> {
    await this.stopAndRemove(id, 0);
  }

  async ensureImage(image: string, pullPolicy: string, auth: RegistryAuth[] = []): Promise<void> {
    const present = this.images.has(image);
    if (present && pullPolicy !== 'Always') return;
    if (pullPolicy === 'Never' && !present)
      throw new ImagePullFailedError(`image ${image} is not present and imagePullPolicy is Never`);
    this.pulls.push({ image, auth });
    this.record('ensureImage', undefined, image);
    this.failIfTold('ensureImage');
    if (!present) this.images.set(image, { user: '' });
  }

  async imageUser(image: string): Promise<string> {
    return this.images.get(image)?.user ?? '';
  }

  async startContainer(pod: PodIdentity, _sandboxId: string, config: ContainerConfig): Promise<string> {
    this.failIfTold('startContainer');
    const id = `container-${++this.next}`;
    const c = this.add(id, pod, 'container', config.env);
    c.config = config;
    c.containerName = config.name;
    c.specHash = config.specHash;
    c.restartCount = config.restartCount;
    this.record('startContainer', id, config.name);
    return id;
  }

  async inspect(id: string): Promise<ContainerInspect | undefined> {
    const c = this.containers.get(id);
    if (!c) return undefined;
    return {
      running: c.running,
      exitCode: c.exitCode,
      oomKilled: false,
      startedAt: c.startedAt,
      ...(c.finishedAt ? { finishedAt: c.finishedAt } : {}),
    };
  }

  async stopAndRemove(id: string, graceSeconds: number): Promise<void> {
    const c = this.containers.get(id);
    if (c && this.containers.delete(id))
      this.record('stopAndRemove', id, `${c.containerName ?? c.role} ${graceSeconds}`);
  }

  async exec(id: string, command: string[]): Promise<number> {
    const c = this.containers.get(id);
    if (!c?.running) throw new Error(`container ${id} is not running`);
    this.record('exec', id, command.join(' '));
    return this.execResults.get(command[0] ?? '') ?? 0;
  }

  async logTail(id: string, options: { tailLines: number; limitBytes: number }): Promise<string> {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no such container: ${id}`);
    return tailOf(c.output ?? '', options);
  }

  /** Appends to a container's output, as if it printed it: followed logs get it at once. */
  print(id: string, text: string): void {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no such container: ${id}`);
    c.output = (c.output ?? '') + text;
    for (const f of this.followers.get(id) ?? []) f.send(text);
  }

  async execStream(
    id: string,
    command: string[],
    options: StdioOptions,
    onOutput: OutputListener,
  ): Promise<StdioStream> {
    const c = this.containers.get(id);
    if (!c?.running) throw new Error(`container ${id} is not running`);
    this.record('execStream', id, command.join(' '));
    let input: ((data: Buffer | undefined) => void) | undefined;
    let exit!: (code: number | undefined) => void;
    const done = new Promise<number | undefined>((resolve) => {
      exit = resolve;
    });
    let ended = false;
    const io: FakeIo = {
      options,
      out: (channel, text) => {
        if (!ended) onOutput(options.tty ? 1 : channel, Buffer.from(text));
      },
      exit: (code) => {
        ended = true;
        exit(code);
      },
      onInput: (l) => {
        input = l;
      },
    };
    this.process(command, io);
    return {
      write: (data) => input?.(data),
      endInput: () => input?.(undefined),
      resize: async (width, height) => {
        this.record('resize', id, `${width}x${height}`);
      },
      done,
      close: () => io.exit(137),
    };
  }

  async attachStream(id: string, options: StdioOptions, onOutput: OutputListener): Promise<StdioStream> {
    const c = this.containers.get(id);
    if (!c?.running) throw new Error(`container ${id} is not running`);
    this.record('attachStream', id);
    return this.follow(
      id,
      (text) => options.stdout && onOutput(1, Buffer.from(text)),
      () => this.inspect(id),
    );
  }

  async logStream(id: string, options: LogStreamOptions, onOutput: OutputListener): Promise<StdioStream> {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no such container: ${id}`);
    this.record('logStream', id, JSON.stringify(options));
    const stamp = (text: string) =>
      options.timestamps ? text.replace(/^(?=.)/gm, `${iso(this.now()).replace('Z', '.000000000Z')} `) : text;
    const lines = (c.output ?? '').split(/(?<=\n)/).filter(Boolean);
    const tail = options.tailLines === undefined ? lines : lines.slice(Math.max(0, lines.length - options.tailLines));
    if (tail.length > 0) onOutput(1, Buffer.from(stamp(tail.join(''))));
    if (!options.follow || !c.running) return endedStream();
    return this.follow(
      id,
      (text) => onOutput(1, Buffer.from(stamp(text))),
      async () => undefined,
    );
  }

  /** How execStream runs a command (tests replace it). */
  process: FakeProcess = fakeProcess;

  private readonly followers = new Map<string, Set<{ send(text: string): void; end(): void }>>();

  /** A stream of what the container prints until it exits or the stream is closed. */
  private follow(id: string, send: (text: string) => void, exitCode: () => Promise<unknown>): StdioStream {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const f = { send, end };
    const set = this.followers.get(id) ?? new Set();
    set.add(f);
    this.followers.set(id, set);
    const done = ended.then(async () => {
      set.delete(f);
      const state = (await exitCode()) as ContainerInspect | undefined;
      return state && !state.running ? state.exitCode : undefined;
    });
    return { write: () => undefined, endInput: () => undefined, resize: async () => undefined, done, close: end };
  }

  async stats(id: string): Promise<ContainerStats | undefined> {
    const c = this.containers.get(id);
    if (!c?.running) return undefined;
    this.record('stats', id);
    return { cpuUsageNanos: this.cpuNanos(c), memoryWorkingSetBytes: c.usage?.memoryBytes ?? 0 };
  }

  private failIfTold(call: Failable): void {
    const err = this.failures.get(call)?.shift();
    if (err) {
      this.record(`${call} failed`);
      throw err;
    }
  }

  private add(id: string, pod: PodIdentity, role: 'sandbox' | 'container', env: FakeContainer['env']) {
    const c: FakeContainer = {
      id,
      podUid: pod.uid,
      podName: pod.name,
      podNamespace: pod.namespace,
      role,
      running: true,
      exitCode: 0,
      env,
      startedAt: iso(this.now()),
    };
    this.containers.set(id, c);
    return c;
  }

  private record(call: string, id?: string, detail?: string): void {
    this.calls.push({ at: this.now(), call, ...(id ? { id } : {}), ...(detail ? { detail } : {}) });
  }
}

function endedStream(): StdioStream {
  return {
    write: () => undefined,
    endInput: () => undefined,
    resize: async () => undefined,
    done: Promise.resolve(undefined),
    close: () => undefined,
  };
}

/** `echo`, `cat`, `sh -c 'exit N'`, `false`; anything else is not found (127), as a shell says. */
export const fakeProcess: FakeProcess = (command, io) => {
  const [cmd, ...args] = command;
  if (cmd === 'echo') {
    io.out(1, `${args.join(' ')}\n`);
    io.exit(0);
  } else if (cmd === 'cat') {
    io.onInput((data) => (data === undefined ? io.exit(0) : io.out(1, data.toString('utf8'))));
  } else if (cmd === 'false') io.exit(1);
  else if (cmd === 'sh' && args[0] === '-c' && /^exit \d+$/.test(args[1] ?? '')) io.exit(Number(args[1]?.slice(5)));
  else {
    io.out(2, `exec: "${cmd}": executable file not found in $PATH\n`);
    io.exit(127);
  }
};
