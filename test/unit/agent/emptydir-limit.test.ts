/**
 * sizeLimit on a disk emptyDir, as the kubelet's eviction manager enforces it, over the fake
 * runtime: a pod whose emptyDir holds more than its limit is evicted (every container killed at
 * once, phase Failed, reason Evicted, the kubelet's message naming the volume); one under its
 * limit, or with a Memory emptyDir, runs on; usage is measured every 10 s, not at every pass,
 * and the walk is bounded.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diskUsage } from '../../../agent/pods/disk-usage';
import { FakeRuntime } from '../../../agent/runtime/fake';
import { pod as podOf, startManager, statusOf, until } from './pod-harness';

async function run(volumes: Record<string, unknown>[]) {
  const clock = { ms: Date.now() };
  const runtime = new FakeRuntime();
  const { m, stateDir } = await startManager({ now: () => clock.ms }, runtime);
  m.setDesired([
    podOf({
      volumes,
      containers: [{ name: 'app', image: 'img', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
    }) as never,
  ]);
  await until(() => [...runtime.containers.values()].some((c) => c.role === 'container' && c.running), 'the container');
  const dir = join(stateDir, 'pods', 'uid-1', 'volumes', 'data');
  return { m, runtime, clock, dir };
}

const running = (runtime: FakeRuntime) =>
  [...runtime.containers.values()].filter((c) => c.role === 'container' && c.running).length;

describe('sizeLimit on a disk emptyDir', () => {
  it('evicts the pod once the volume holds more than its limit, naming the volume', async () => {
    // prepare
    const { m, runtime, clock, dir } = await run([{ name: 'data', emptyDir: { sizeLimit: '1Mi' } }]);

    // act: the container writes 2 MiB
    mkdirSync(join(dir, 'cache'), { recursive: true });
    writeFileSync(join(dir, 'cache', 'blob'), Buffer.alloc(2 * 1024 * 1024, 1));
    clock.ms += 10_000;
    await until(() => statusOf(m).phase === 'Failed', 'the eviction');

    // assess
    expect(statusOf(m)).toMatchObject({
      phase: 'Failed',
      reason: 'Evicted',
      message: 'Usage of EmptyDir volume "data" exceeds the limit "1Mi". ',
    });
    expect(running(runtime)).toBe(0);
    expect(runtime.calls.some((c) => c.call === 'stopAndRemove' && c.detail === 'app 0')).toBe(true);
  });

  it('leaves a pod under its limit running, and measures only every 10 seconds', async () => {
    // prepare
    const { m, runtime, clock, dir } = await run([{ name: 'data', emptyDir: { sizeLimit: '4Mi' } }]);
    writeFileSync(join(dir, 'small'), Buffer.alloc(1024 * 1024, 1));
    clock.ms += 10_000;
    await new Promise((r) => setTimeout(r, 150));
    const under = statusOf(m).phase;

    // act: over the limit, but the next measurement is not due yet
    writeFileSync(join(dir, 'big'), Buffer.alloc(5 * 1024 * 1024, 1));
    clock.ms += 5_000;
    await new Promise((r) => setTimeout(r, 150));
    const notYet = running(runtime);
    clock.ms += 5_000;
    await until(() => statusOf(m).phase === 'Failed', 'the eviction');

    // assess
    expect(under).toBe('Running');
    expect(notYet).toBe(1);
  });

  it('counts allocated blocks, stops at the limit, and stops after at most maxEntries entries', () => {
    // prepare
    const dir = mkdtempSync(join(tmpdir(), 'ferry-du-'));
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `f${i}`), Buffer.alloc(8192, 1));

    // act
    const all = diskUsage(dir, Number.MAX_SAFE_INTEGER);
    const early = diskUsage(dir, 10_000);
    const bounded = diskUsage(dir, Number.MAX_SAFE_INTEGER, 10);

    // assess
    expect(all).toEqual({ bytes: expect.any(Number), complete: true });
    expect(all.bytes).toBeGreaterThanOrEqual(50 * 8192);
    expect(early.bytes).toBeLessThan(all.bytes);
    expect(early.bytes).toBeGreaterThan(10_000);
    expect(bounded.complete).toBe(false);
  });
});
