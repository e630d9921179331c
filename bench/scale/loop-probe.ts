/**
 * Preloaded (`node --import`) into every process of the scale bench, server and agents alike:
 * measures the process's event-loop delay (perf_hooks.monitorEventLoopDelay) and appends one JSON
 * line a second to the file named by FERRY_LOOP_PROBE, so the bench can tell a server that is
 * behind from simulated agents that are (both show as slow syncs). Does nothing without the variable.
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.FERRY_LOOP_PROBE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  const timer = setInterval(() => {
    const line = {
      at: Date.now(),
      p50Ms: histogram.percentile(50) / 1e6,
      p99Ms: histogram.percentile(99) / 1e6,
      maxMs: histogram.max / 1e6,
    };
    histogram.reset();
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 1000);
  timer.unref();
}
