/**
 * A child process of the scale bench carrying a share of the simulated nodes (bench/lib/agents.ts).
 * Told its share by an IPC message, it starts them, recording sync timings from the first, and on
 * `stop` stops them and sends its figures back. It exits on its own if the bench goes away.
 */
import { startFleet } from '../lib/agents';

interface Start {
  type: 'start';
  apiUrl: string;
  bootstrapToken: string;
  count: number;
  prefix: string;
  root: string;
  rampMs: number;
  tickMs: number;
}

type Message = Start | { type: 'stop' };

let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: Message) => {
  void (async () => {
    if (msg.type === 'start') {
      fleet = await startFleet({ ...msg, record: true });
      process.send?.({ type: 'started' });
    } else if (msg.type === 'stop') {
      const timings = fleet?.timings;
      if (timings) timings.recording = false;
      // Figures first: stopping 2,500 loops must not delay them past the bench's patience.
      process.send?.({ type: 'figures', timings }, () => {
        void fleet?.stop().finally(() => process.exit(0));
      });
    }
  })().catch((err: unknown) => {
    process.send?.({ type: 'error', message: String(err) });
  });
});
