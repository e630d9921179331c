/**
 * What the scale bench reads of processes and the machine: a process's CPU and RSS from /proc,
 * the kernel's TCP counters of connections not taken in time, stopping a child (SIGKILL if it
 * will not go), and the percentile the bench quotes.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU seconds and RSS of a live process (undefined once it is gone), and how long its main thread
 * (the JavaScript one) was runnable but waited for a CPU (/proc/PID/schedstat, the scheduler's
 * run delay): time other work on the machine took from it, which its event-loop delay includes.
 */
export function procStat(pid: number): { cpuSeconds: number; rssMb: number; runWaitSeconds: number } | undefined {
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
  let runWaitSeconds = Number.NaN;
  try {
    runWaitSeconds = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {}
  return { cpuSeconds: ticks / 100, rssMb: Number(rss?.[1] ?? 0) / 1024, runWaitSeconds };
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

export interface SocketQueues {
  /** Connections the kernel completed that the server has not accepted yet (its listen socket's queue). */
  acceptQueue: number;
  /** The server's connections with bytes the kernel holds that the server has not read: requests waiting for it. */
  unreadConnections: number;
  unreadBytes: number;
}

/**
 * The server's side of its TCP connections, from /proc/net/tcp (IPv4 loopback): what waits in the
 * kernel for the server's event loop, a queue neither process's own timing shows.
 */
export function socketQueues(port: number): SocketQueues {
  const queues: SocketQueues = { acceptQueue: 0, unreadConnections: 0, unreadBytes: 0 };
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return { acceptQueue: Number.NaN, unreadConnections: Number.NaN, unreadBytes: Number.NaN };
  }
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (!f[1]?.endsWith(local)) continue;
    const rx = Number.parseInt((f[4] ?? '0:0').split(':')[1] ?? '0', 16);
    if (f[3] === '0A') queues.acceptQueue = rx;
    else if (rx > 0) {
      queues.unreadConnections++;
      queues.unreadBytes += rx;
    }
  }
  return queues;
}
