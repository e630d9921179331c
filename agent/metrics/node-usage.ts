/**
 * The machine's own CPU time and memory working set, for a node that has the machine to itself
 * (a cloud VM): cumulative CPU from /proc/stat (every state but idle and iowait, in USER_HZ
 * ticks of 10 ms), memory as MemTotal - MemAvailable from /proc/meminfo (the kernel's estimate of
 * what is not reclaimable; the kubelet's root-cgroup working set, usage - inactive_file, is the
 * same quantity seen from the cgroup). Several local nodes share one machine, so they report the
 * sum of their own pods instead (collector.ts).
 */
import { readFile } from 'node:fs/promises';

/** USER_HZ is 100 on every Linux the agent runs on: one tick is 10 ms. */
const NANOS_PER_TICK = 10_000_000;

export interface MachineReading {
  cpuUsageNanos: number;
  memoryWorkingSetBytes: number;
}

/** undefined where /proc is not Linux's (the agent then reports its pods' sum). */
export async function readMachine(proc = '/proc'): Promise<MachineReading | undefined> {
  try {
    const [stat, meminfo] = await Promise.all([readFile(`${proc}/stat`, 'utf8'), readFile(`${proc}/meminfo`, 'utf8')]);
    return parseMachine(stat, meminfo);
  } catch {
    return undefined;
  }
}

export function parseMachine(stat: string, meminfo: string): MachineReading | undefined {
  const cpu = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!cpu) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user, nice, system, , , irq, softirq, steal] = cpu.trim().split(/\s+/).slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1]);
  const total = kib('MemTotal');
  const available = kib('MemAvailable');
  if (!Number.isFinite(busy) || !Number.isFinite(total) || !Number.isFinite(available)) return undefined;
  return { cpuUsageNanos: busy * NANOS_PER_TICK, memoryWorkingSetBytes: Math.max(0, (total - available) * 1024) };
}
