/**
 * A child process of the scale bench carrying a share of the simulated nodes: the light simulator
 * (bench/scale/light-fleet.ts, the default) or the real agent loop (bench/lib/agents.ts, `full`).
 * Told its share by an IPC message, it starts them, recording sync timings from the first, and on
 * `stop` stops them and sends its figures back (with the CPU it used since the start message). It exits on its own if the bench goes away.
 */
import { startFleet } from '../lib/agents';
import { startLightFleet } from './light-fleet';

interface Start {
  type: 'start';
  sim: 'light' | 'full';
  apiUrl: string;
  bootstrapToken: string;
  count: number;
  prefix: string;
  root: string;
  rampMs: number;
  tickMs: number;
  /** Light: how long after a pod arrives it is reported Running. */
  startMs: number;
  ipBase: number;
}

type Message = Start | { type: 'stop' };

let fleet: { timings: { recording: boolean }; stop(): Promise<void> } | undefined;
/** CPU from the start message on: the simulation's own, not the loading of its modules. */
let cpuAtStart: NodeJS.CpuUsage | undefined;

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: Message) => {
  void (async () => {
    if (msg.type === 'start') {
      cpuAtStart = process.cpuUsage();
      if (msg.sim === 'full') fleet = await startFleet({ ...msg, record: true });
      else {
        // Held at once: a stop during a long ramp still finds the fleet and its figures.
        const light = startLightFleet({ ...msg, record: true });
        fleet = light;
        await light.ramped;
      }
      process.send?.({ type: 'started' });
    } else if (msg.type === 'stop') {
      const timings = fleet?.timings;
      if (timings) timings.recording = false;
      // Figures first: stopping 2,500 loops must not delay them past the bench's patience.
      const cpu = process.cpuUsage(cpuAtStart);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      process.send?.({ type: 'figures', timings: timings && { ...timings, cpuSeconds } }, () => {
        void fleet?.stop().finally(() => process.exit(0));
      });
    }
  })().catch((err: unknown) => {
    process.send?.({ type: 'error', message: String(err) });
  });
});
