/**
 * The simulator alone (`--calibrate`): N light nodes against the canned control plane
 * (bench/scale/canned-server.ts) for the given seconds, so what the simulator costs per sync and
 * per node, and whether its event loop keeps up, is measured at counts the machine could not also
 * serve. The canned server runs in the bench's own process, whose CPU is shown beside.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCannedServer } from './canned-server';
import { startFleetChildren } from './fleet';
import { type LoopDelay, loopDelay } from './probes';
import { procStat, sleep } from './proc';

export interface Calibration {
  nodes: number;
  seconds: number;
  /** Completed syncs per node per minute (the server's pace: one held sync every 5 s when quiet). */
  syncsPerNodeMinute: number;
  simCores: number;
  simCpuUsPerSync: number;
  /** The cores 1,000 nodes ask of the simulator at this pace. */
  simCoresPer1000Nodes: number;
  simLoop: LoopDelay;
  /** Share of the window the worst simulator process waited for a CPU. */
  simRunWait: number;
  cannedServerCores: number;
  failed: number;
  cut: number;
}

export async function calibrate(
  nodes: number,
  seconds: number,
  perChild: number,
  startMs: number,
  rampMs: number,
): Promise<Calibration> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-scale-cal-'));
  const canned = await startCannedServer();
  const own0 = process.cpuUsage();
  const fleet = startFleetChildren({
    sim: 'light',
    nodes,
    perChild,
    apiUrl: canned.url,
    bootstrapToken: 'bootstrap',
    dataDir,
    rampMs,
    tickMs: 5000,
    startMs,
  });
  try {
    const started = Date.now();
    await sleep(500);
    const wait0 = fleet.children.map((c) => procStat(c.pid as number)?.runWaitSeconds ?? Number.NaN);
    await sleep(seconds * 1000 - 500);
    const windowEnd = Date.now();
    const wait1 = fleet.children.map((c) => procStat(c.pid as number)?.runWaitSeconds ?? Number.NaN);
    const wall = (windowEnd - started) / 1000;
    const own = process.cpuUsage(own0);
    const timings = await fleet.figures();
    const syncs = timings.reduce((n, t) => n + (t?.count ?? 0), 0);
    const cpu = timings.reduce((n, t) => n + (t?.cpuSeconds ?? 0), 0);
    const simCores = cpu / wall;
    return {
      nodes,
      seconds: wall,
      syncsPerNodeMinute: syncs / nodes / (wall / 60),
      simCores,
      simCpuUsPerSync: (cpu / syncs) * 1e6,
      simCoresPer1000Nodes: (simCores / nodes) * 1000,
      simLoop: fleet.loopFiles
        .map((f) => loopDelay(f, windowEnd))
        .reduce((a, b) => (b.p95OfSecondsMs > a.p95OfSecondsMs ? b : a)),
      simRunWait: Math.max(...wait1.map((w, i) => w - (wait0[i] as number))) / wall,
      cannedServerCores: (own.user + own.system) / 1e6 / wall,
      failed: timings.reduce((n, t) => n + (t?.failed ?? 0), 0),
      cut: timings.reduce((n, t) => n + (t?.cut ?? 0), 0),
    };
  } finally {
    await fleet.stop();
    await canned.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
