/**
 * The node's usage report (schemas/agent-protocol.ts UsageReport), as the kubelet's resource
 * metrics endpoint serves it to metrics-server: per container, CPU as a rate between two readings
 * and memory working set; the node's totals. Readings come from the runtime's one-shot stats
 * (Docker's stats API with `stream=false&one-shot=true`), so the collector keeps the previous
 * round of readings and takes the rate against it; a round with a container it has no earlier
 * reading of (the first report, a new container, a previous round too old) takes a second round
 * PRIME_MS later, so every report has a rate. Only called while the server asks for usage.
 */
import type { PodRef, UsageReport } from '../../schemas/agent-protocol';
import type { ContainerRuntime, ContainerStats } from '../runtime/types';
import { type MachineReading, readMachine } from './node-usage';

/** The gap between the two readings of a first report (metrics-server's shortest window is 1 s too). */
export const PRIME_MS = 1_000;
/** A previous round older than this is not a window to report (usage was not wanted meanwhile). */
export const MAX_WINDOW_MS = 120_000;

interface Round {
  at: number;
  containers: Map<string, { pod: PodRef; name: string; stats: ContainerStats }>;
  machine: MachineReading | undefined;
}

export interface UsageCollectorOptions {
  /** Several nodes on one machine (capacity given with --cpu/--memory): the node's usage is its pods'. */
  sharedMachine: boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  machine?: () => Promise<MachineReading | undefined>;
}

export class UsageCollector {
  private previous: Round | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly machine: () => Promise<MachineReading | undefined>;

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly options: UsageCollectorOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.machine = options.machine ?? (() => readMachine());
  }

  /** A report over the window since the previous one (or a fresh one of PRIME_MS). */
  async report(): Promise<UsageReport> {
    let round = await this.round();
    const before = this.previous;
    if (
      !before ||
      round.at - before.at > MAX_WINDOW_MS ||
      [...round.containers.keys()].some((id) => !before.containers.has(id))
    ) {
      this.previous = round;
      await this.sleep(PRIME_MS);
      round = await this.round();
    }
    const base = this.previous as Round;
    this.previous = round;
    return usageBetween(base, round, this.options.sharedMachine, this.now());
  }

  private async round(): Promise<Round> {
    const at = this.now();
    const containers: Round['containers'] = new Map();
    const managed = (await this.runtime.listManaged()).filter((c) => c.role === 'container' && c.running);
    await Promise.all(
      managed.map(async (c) => {
        const stats = await this.runtime.stats(c.id).catch(() => undefined);
        if (!stats || !c.containerName) return;
        containers.set(c.id, {
          pod: { namespace: c.podNamespace, name: c.podName, uid: c.podUid },
          name: c.containerName,
          stats,
        });
      }),
    );
    return { at, containers, machine: this.options.sharedMachine ? undefined : await this.machine() };
  }
}

/** The report from two rounds: rates over their window, working sets of the later one. */
export function usageBetween(base: Round, round: Round, sharedMachine: boolean, now: number): UsageReport {
  const windowMs = Math.max(1, round.at - base.at);
  const rate = (later: number, earlier: number) => (Math.max(0, later - earlier) * 1e3) / windowMs;
  const pods = new Map<string, UsageReport['pods'][number]>();
  let cpu = 0;
  let memory = 0;
  for (const [id, c] of round.containers) {
    const earlier = base.containers.get(id);
    if (!earlier) continue;
    const cpuNanoCores = Math.round(rate(c.stats.cpuUsageNanos, earlier.stats.cpuUsageNanos));
    const memoryBytes = c.stats.memoryWorkingSetBytes;
    cpu += cpuNanoCores;
    memory += memoryBytes;
    const entry = pods.get(c.pod.uid) ?? { pod: c.pod, containers: [] };
    entry.containers.push({ name: c.name, cpuNanoCores, memoryBytes });
    pods.set(c.pod.uid, entry);
  }
  const machine =
    !sharedMachine && round.machine && base.machine
      ? {
          cpuNanoCores: Math.round(rate(round.machine.cpuUsageNanos, base.machine.cpuUsageNanos)),
          memoryBytes: round.machine.memoryWorkingSetBytes,
        }
      : { cpuNanoCores: cpu, memoryBytes: memory };
  return { ageMs: Math.max(0, now - round.at), windowMs, node: machine, pods: [...pods.values()] };
}
