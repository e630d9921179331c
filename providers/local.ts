/**
 * The `local` provider: an "instance" is a ferry agent process on this machine with its own node
 * name, state dir and loopback address (127.0.1.N), so a multi-node cluster fits on one laptop or
 * CI machine. Deleting an instance stops its agent and removes its containers, as terminating a VM
 * would. Values reach the agent as an argument vector, never through a shell.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseQuantity } from '../schemas/quantity';
import { LocalLoadBalancers } from './local-lb';
import type {
  CloudProvider,
  Instance,
  InstanceFilter,
  InstanceSpec,
  LoadBalancerIngress,
  LoadBalancerNode,
  LoadBalancerService,
  MachineCapacity,
} from './types';

const run = promisify(execFile);

export interface LocalProviderOptions {
  /** Where each node's state dir, log and instance record live (`<dataDir>/nodes/<name>/`). */
  dataDir: string;
  /** Command that starts an agent, e.g. `[process.execPath, 'dist/agent.js']`. */
  agentCommand: string[];
  sandboxImage?: string;
  dockerSocket?: string;
  /** Capacity each local node reports (they share one machine). */
  cpuPerNode?: string;
  memoryPerNode?: string;
  extraEnv?: Record<string, string>;
  /**
   * The host number of the first node address (127.0.1.N; default 1). Each data dir allocates
   * its own addresses, so a second cluster on the machine starts past the first's (agents bind
   * their address's port 80 for ingress, and node ports).
   */
  firstAddress?: number;
}

interface InstanceRecord extends Instance {
  pid: number;
  /** How the agent was started (the bootstrap token is not kept: the node credential is in its state dir). */
  command: string[];
}

export class LocalProvider implements CloudProvider {
  readonly type = 'local';
  private readonly children = new Map<string, ChildProcess>();
  private readonly lbs = new LocalLoadBalancers();

  constructor(private readonly options: LocalProviderOptions) {}

  private nodeDir(name: string): string {
    return join(this.options.dataDir, 'nodes', name);
  }

  async createInstance(spec: InstanceSpec): Promise<Instance> {
    const dir = this.nodeDir(spec.name);
    mkdirSync(join(dir, 'state'), { recursive: true, mode: 0o700 });
    const ip = this.allocateIp();
    const [cmd, ...baseArgs] = this.options.agentCommand;
    if (!cmd) throw new Error('local provider: agentCommand is empty');
    const labels = Object.entries({
      ...spec.bootstrap.labels,
      'topology.kubernetes.io/zone': spec.zone,
      'ferry.dev/pool': spec.pool,
    })
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const args = [
      ...baseArgs,
      '--api-url',
      spec.bootstrap.apiUrl,
      '--node-name',
      spec.name,
      '--node-ip',
      ip,
      '--state-dir',
      join(dir, 'state'),
      '--labels',
      labels,
    ];
    if (this.options.sandboxImage) args.push('--sandbox-image', this.options.sandboxImage);
    if (this.options.dockerSocket) args.push('--docker-socket', this.options.dockerSocket);
    if (this.options.cpuPerNode) args.push('--cpu', this.options.cpuPerNode);
    if (this.options.memoryPerNode) args.push('--memory', this.options.memoryPerNode);
    const child = this.spawnAgent(spec.name, [cmd, ...args], spec.bootstrap.token);
    const record: InstanceRecord = {
      id: `local-${spec.name}`,
      name: spec.name,
      pool: spec.pool,
      zone: spec.zone,
      state: 'running',
      privateIp: ip,
      tags: {
        ...spec.tags,
        'ferry.dev/cluster': spec.cluster,
        'ferry.dev/pool': spec.pool,
        'ferry.dev/cloud': spec.cloud.name,
        'ferry.dev/cloud-uid': spec.cloud.uid,
      },
      cloudUid: spec.cloud.uid,
      pid: child.pid as number,
      command: [cmd, ...args],
    };
    writeFileSync(join(dir, 'instance.json'), JSON.stringify(record, null, 2));
    const { pid: _pid, command: _command, ...instance } = record;
    return instance;
  }

  private spawnAgent(name: string, command: string[], token?: string): ChildProcess {
    const [cmd, ...args] = command as [string, ...string[]];
    const log = openSync(join(this.nodeDir(name), 'agent.log'), 'a');
    // The token travels in the environment, not argv, so `ps` does not show it.
    const child = spawn(cmd, args, {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...this.options.extraEnv, ...(token ? { FERRY_TOKEN: token } : {}) },
      detached: true,
    });
    closeSync(log);
    if (child.pid === undefined) throw new Error(`launching local instance ${name}: agent did not start`);
    this.children.set(name, child);
    child.unref();
    return child;
  }

  /**
   * Starts the agent of an existing instance again (after it crashed or was stopped), as a VM's
   * init system would; it re-uses the node credential in its state dir.
   */
  restartAgent(name: string): number {
    const record = this.records().find((r) => r.name === name);
    if (!record) throw new Error(`restarting local agent ${name}: no such instance`);
    const child = this.spawnAgent(name, record.command);
    record.pid = child.pid as number;
    writeFileSync(join(this.nodeDir(name), 'instance.json'), JSON.stringify(record, null, 2));
    return record.pid;
  }

  async deleteInstance(id: string): Promise<void> {
    const record = this.records().find((r) => r.id === id);
    if (!record) return;
    await stopProcess(record.pid, 10_000);
    this.children.delete(record.name);
    await removeNodeContainers(record.name);
    rmSync(join(this.nodeDir(record.name), 'instance.json'), { force: true });
  }

  /** One LocalProvider serves every local Cloud: each Cloud sees only the agents tagged with its uid. */
  async listInstances(filter: InstanceFilter): Promise<Instance[]> {
    return this.records()
      .filter(
        (r) =>
          r.tags['ferry.dev/cluster'] === filter.cluster &&
          r.tags['ferry.dev/cloud-uid'] === filter.cloud.uid &&
          (!filter.pool || r.pool === filter.pool),
      )
      .map(({ pid, command: _command, ...r }) => ({ ...r, state: isAlive(pid) ? 'running' : 'terminated' }));
  }

  /** The agent's process id, for tests and `ferry up` (which restarts agents it owns). */
  pidOf(name: string): number | undefined {
    return this.records().find((r) => r.name === name)?.pid;
  }

  ensureLoadBalancer(service: LoadBalancerService, nodes: LoadBalancerNode[]): Promise<LoadBalancerIngress> {
    return this.lbs.ensure(service, nodes);
  }

  async deleteLoadBalancer(service: { namespace: string; name: string }): Promise<void> {
    await this.lbs.delete(service);
  }

  /**
   * The provider of one local Cloud. One LocalProvider serves every local Cloud (they are all this
   * machine): instances are kept apart by their Cloud tag, load balancers by this scope, so a
   * Service has one load balancer in each local Cloud, as it would in two real ones.
   */
  /**
   * Every local machine is this one: what its agents are started with (`--cpu`, `--memory`), else
   * what the agent reads from the host. The instance type means nothing here.
   */
  async machineCapacity(): Promise<MachineCapacity | undefined> {
    try {
      const cpu = this.options.cpuPerNode ? parseQuantity(this.options.cpuPerNode) : availableParallelism();
      const memory = this.options.memoryPerNode ? parseQuantity(this.options.memoryPerNode) : totalmem();
      return Number.isFinite(cpu) && Number.isFinite(memory) && cpu > 0 && memory > 0 ? { cpu, memory } : undefined;
    } catch {
      return undefined; // a setting that is not a quantity: unknown, the bounds apply
    }
  }

  forCloud(cloud: string): CloudProvider {
    return {
      type: this.type,
      machineCapacity: () => this.machineCapacity(),
      createInstance: (spec) => this.createInstance(spec),
      deleteInstance: (id) => this.deleteInstance(id),
      listInstances: (filter) => this.listInstances(filter),
      ensureLoadBalancer: (service, nodes) => this.lbs.ensure(service, nodes, cloud),
      deleteLoadBalancer: (service) => this.lbs.delete(service, cloud),
    };
  }

  async close(): Promise<void> {
    await this.lbs.closeAll();
  }

  private records(): InstanceRecord[] {
    const root = join(this.options.dataDir, 'nodes');
    if (!existsSync(root)) return [];
    const out: InstanceRecord[] = [];
    for (const name of readdirSync(root)) {
      const file = join(root, name, 'instance.json');
      if (existsSync(file)) out.push(JSON.parse(readFileSync(file, 'utf8')) as InstanceRecord);
    }
    return out;
  }

  private allocateIp(): string {
    const used = new Set(this.records().map((r) => r.privateIp));
    for (let n = this.options.firstAddress ?? 1; n < 255; n++) {
      const ip = `127.0.1.${n}`;
      if (!used.has(ip)) return ip;
    }
    throw new Error(`local provider: no free loopback address in 127.0.1.${this.options.firstAddress ?? 1}-254`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopProcess(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

/** A terminated VM takes its containers with it; a local one must remove them itself. */
async function removeNodeContainers(nodeName: string): Promise<void> {
  try {
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=ferry.node=${nodeName}`]);
    const ids = stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await run('docker', ['rm', '-f', ...ids]);
    // The node's pod network (agent/runtime/docker.ts) goes with it.
    await run('docker', ['network', 'rm', `ferry-${nodeName}`]).catch(() => undefined);
  } catch {
    // Docker gone or nothing to remove: the instance is gone either way.
  }
}
