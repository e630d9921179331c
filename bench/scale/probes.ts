/**
 * Reads what the preloaded probes wrote during a scale run: a process's event-loop delay
 * (bench/scale/loop-probe.ts) and the server's own sync latency (bench/scale/server-probe.ts),
 * each over the measured window only (lines written while the fleet was being stopped are not).
 */
import { readFileSync } from 'node:fs';
import { percentile } from './proc';
import type { ServerProbeLine } from './server-probe';

/** Event-loop delay of one process over the window: the worst second, and the 95th and 99th percentile of the seconds' worst. */
export interface LoopDelay {
  worstMs: number;
  p95OfSecondsMs: number;
  p99OfSecondsMs: number;
}

function lines<T extends { at: number }>(file: string, untilMs: number): T[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as T)
      .filter((l) => l.at <= untilMs);
  } catch {
    return [];
  }
}

export function loopDelay(file: string, untilMs: number): LoopDelay {
  const maxes = lines<{ at: number; maxMs: number }>(file, untilMs)
    .map((l) => l.maxMs)
    .sort((a, b) => a - b);
  return {
    worstMs: maxes[maxes.length - 1] ?? Number.NaN,
    p95OfSecondsMs: percentile(maxes, 95),
    p99OfSecondsMs: percentile(maxes, 99),
  };
}

export interface ServerSyncs {
  /** Syncs the server answered without holding (the simulator did not ask it to): headers parsed to response end. */
  answered: number;
  p50Ms: number;
  p99Ms: number;
  /** The same syncs from the client's sending to the response's end: the kernel's and the event loop's queueing too. */
  sinceSentP50Ms: number;
  sinceSentP99Ms: number;
  held: number;
  heldLate: number;
  /** Syncs of clients that do not say their wait (the full agent): the server's figure is not split for them. */
  unclassified: number;
  registerP99Ms: number;
}

export function serverSyncs(file: string, untilMs: number): ServerSyncs {
  const read = lines<ServerProbeLine>(file, untilMs);
  const answered = read.flatMap((l) => l.answered).sort((a, b) => a - b);
  const sinceSent = read.flatMap((l) => l.sinceSent ?? []).sort((a, b) => a - b);
  const register = read.flatMap((l) => l.register).sort((a, b) => a - b);
  return {
    answered: answered.length,
    p50Ms: percentile(answered, 50),
    p99Ms: percentile(answered, 99),
    sinceSentP50Ms: percentile(sinceSent, 50),
    sinceSentP99Ms: percentile(sinceSent, 99),
    held: read.reduce((n, l) => n + l.held, 0),
    heldLate: read.reduce((n, l) => n + l.heldLate, 0),
    unclassified: read.reduce((n, l) => n + l.unclassified, 0),
    registerP99Ms: percentile(register, 99),
  };
}
