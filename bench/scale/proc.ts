/**
 * What the scale bench reads of processes and the machine: a process's CPU and RSS from /proc,
 * the kernel's TCP counters of connections not taken in time, stopping a child (SIGKILL if it
 * will not go), and the percentile the bench quotes.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds and RSS of a live process (undefined once it is gone). */
export function procStat(pid: number): { cpuSeconds: number; rssMb: number } | undefined {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  return { cpuSeconds: ticks / 100, rssMb: Number(rss?.[1] ?? 0) / 1024 };
}

/**
 * The machine's TCP counters that show connections the server did not take in time: SYNs dropped
 * because the listen queue was full (ListenOverflows) and SYNs clients sent again (TCPSynRetrans,
 * 1 s, 3 s, 7 s... later): latency no process's CPU or event loop shows. Machine-wide: other work
 * adds to them too.
 */
export function tcpCounters(): { listenOverflows: number; synRetrans: number } {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = (lines[i] ?? '').split(' ');
    const values = (lines[i + 1] ?? '').split(' ').map(Number);
    const get = (n: string) => values[names.indexOf(n)] ?? Number.NaN;
    return { listenOverflows: get('ListenOverflows'), synRetrans: get('TCPSynRetrans') };
  } catch {
    return { listenOverflows: Number.NaN, synRetrans: Number.NaN };
  }
}

export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 5000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  if (await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

/** The p-th percentile of an ascending list (NaN for none). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
