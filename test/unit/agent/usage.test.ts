/**
 * The agent's usage readings: CPU as a rate between two readings (a first report primes with a
 * second reading), memory as working set (usage - inactive_file, cgroup v1 and v2), the node's
 * totals from /proc or from its pods on a shared machine.
 */
import { describe, expect, it } from 'vitest';
import { PRIME_MS, UsageCollector } from '../../../agent/metrics/collector';
import { parseMachine } from '../../../agent/metrics/node-usage';
import { statsOf } from '../../../agent/runtime/docker';
import { FakeRuntime } from '../../../agent/runtime/fake';

async function started(runtime: FakeRuntime, name: string, cores: number, memoryBytes: number) {
  const pod = { uid: `uid-${name}`, name, namespace: 'default' };
  const sandbox = await runtime.createSandbox(pod, { ports: [] });
  const id = await runtime.startContainer(pod, sandbox.id, {
    name: 'app',
    image: 'busybox',
    env: [],
    mounts: [],
    specHash: 'h',
    restartCount: 0,
    security: {},
  });
  runtime.setUsage(id, cores, memoryBytes);
  return id;
}

describe('node usage readings', () => {
  it('reports CPU as the rate between two readings, priming a first report with a second reading', async () => {
    let now = 1_000_000;
    const runtime = new FakeRuntime(() => now);
    await started(runtime, 'busy', 0.5, 30 * 2 ** 20);
    await started(runtime, 'idle', 0, 10 * 2 ** 20);
    const slept: number[] = [];
    const collector = new UsageCollector(runtime, {
      sharedMachine: true,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    const first = await collector.report();
    expect(slept).toEqual([PRIME_MS]);
    expect(first.windowMs).toBe(PRIME_MS);
    const busy = first.pods.find((p) => p.pod.name === 'busy');
    expect(busy?.containers).toEqual([{ name: 'app', cpuNanoCores: 5e8, memoryBytes: 30 * 2 ** 20 }]);
    // A shared machine's node usage is the sum of its pods.
    expect(first.node).toEqual({ cpuNanoCores: 5e8, memoryBytes: 40 * 2 ** 20 });
    now += 15_000;
    const second = await collector.report();
    expect(slept).toHaveLength(1);
    expect(second.windowMs).toBe(15_000);
    expect(second.pods.find((p) => p.pod.name === 'busy')?.containers[0]?.cpuNanoCores).toBe(5e8);
  });

  it('takes the working set as usage minus inactive file pages, on cgroup v2 and v1', () => {
    const v2 = statsOf({
      cpu_stats: { cpu_usage: { total_usage: 5 } },
      memory_stats: { usage: 100, stats: { inactive_file: 30 } },
    });
    expect(v2).toEqual({ cpuUsageNanos: 5, memoryWorkingSetBytes: 70 });
    const v1 = statsOf({
      cpu_stats: { cpu_usage: { total_usage: 5 } },
      memory_stats: { usage: 100, stats: { total_inactive_file: 120 } },
    });
    expect(v1?.memoryWorkingSetBytes).toBe(0);
    // A stopped container answers with empty stats: no reading.
    expect(statsOf({ cpu_stats: {}, memory_stats: {} })).toBeUndefined();
  });

  it('reads the machine from /proc: busy ticks of 10 ms, MemTotal - MemAvailable', () => {
    const stat = 'cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 1 2 3 4\n';
    const meminfo = 'MemTotal:       8000000 kB\nMemFree:         100 kB\nMemAvailable:    6000000 kB\n';
    expect(parseMachine(stat, meminfo)).toEqual({
      cpuUsageNanos: 160 * 10_000_000,
      memoryWorkingSetBytes: 2_000_000 * 1024,
    });
    expect(parseMachine('intr 1', meminfo)).toBeUndefined();
  });
});
