/**
 * The scale bench's simulated fleet: N nodes split over child processes (bench/scale/agents-child.ts),
 * each with the loop probe preloaded, light or full. `figures()` asks each child for its sync
 * timings (undefined for a child that did not answer in 30 s) and the CPU it used simulating.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { LightTimings } from './light-fleet';
import { sleep, stopChild } from './proc';

export interface FleetSpec {
  sim: 'light' | 'full';
  nodes: number;
  perChild: number;
  apiUrl: string;
  bootstrapToken: string;
  dataDir: string;
  rampMs: number;
  /** Full: the pod manager's tick. */
  tickMs: number;
  /** Light: how long after a pod arrives it is reported Running. */
  startMs: number;
  profileDir?: string;
}

/** The light fleet's timings; the full fleet's lack `cut` and `registered`. */
export type ChildTimings = Partial<LightTimings> &
  Omit<LightTimings, 'cut' | 'registered'> & {
    /** The child's CPU from its start message to its stop (its modules' loading not included). */
    cpuSeconds: number;
  };

export interface FleetChildren {
  children: ChildProcess[];
  loopFiles: string[];
  figures(): Promise<(ChildTimings | undefined)[]>;
  stop(): Promise<void>;
}

const PROBE = join(import.meta.dirname, 'loop-probe.ts');

export function startFleetChildren(spec: FleetSpec): FleetChildren {
  const children: ChildProcess[] = [];
  const loopFiles: string[] = [];
  const figures: Promise<ChildTimings>[] = [];
  for (let i = 0; i * spec.perChild < spec.nodes; i++) {
    const count = Math.min(spec.perChild, spec.nodes - i * spec.perChild);
    const loopFile = join(spec.dataDir, `loop-agents-${i}.jsonl`);
    const child = fork(join(import.meta.dirname, 'agents-child.ts'), [], {
      execArgv: [
        ...(spec.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(spec.profileDir, `agents-${i}`)}`] : []),
        ...['--import', 'tsx', '--import', PROBE],
      ],
      env: { ...process.env, FERRY_LOOP_PROBE: loopFile },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    children.push(child);
    loopFiles.push(loopFile);
    figures.push(
      new Promise((resolve, reject) => {
        child.on('message', (m: { type: string; timings?: ChildTimings; message?: string }) => {
          if (m.type === 'figures' && m.timings) resolve(m.timings);
          if (m.type === 'error') reject(new Error(m.message));
        });
        child.on('exit', () => reject(new Error('agents child exited before sending its figures')));
      }),
    );
    // Unanswered figures are reported as missing, not as an unhandled rejection.
    figures[i]?.catch(() => {});
    child.send({
      type: 'start',
      sim: spec.sim,
      apiUrl: spec.apiUrl,
      bootstrapToken: spec.bootstrapToken,
      count,
      prefix: `c${i}-node`,
      root: join(spec.dataDir, `agents-${i}`),
      rampMs: spec.rampMs,
      tickMs: spec.tickMs,
      startMs: spec.startMs,
      ipBase: Math.ceil((i * spec.perChild) / 250),
    });
  }
  return {
    children,
    loopFiles,
    async figures() {
      for (const c of children) {
        try {
          c.send({ type: 'stop' });
        } catch {
          // A child already gone: its figures are missing, which the bench reports.
        }
      }
      return Promise.all(
        figures.map((f) => Promise.race([f.catch(() => undefined), sleep(30_000).then(() => undefined)])),
      );
    },
    async stop() {
      await Promise.all(children.map((c) => stopChild(c, 'SIGTERM', 10_000)));
    },
  };
}
