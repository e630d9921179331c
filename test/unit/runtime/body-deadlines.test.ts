/**
 * Request bodies share one sweep timer (body-deadlines.ts): a body still arriving at its deadline
 * is expired by the next sweep, one read in time is not, and each body keeps its own deadline.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BodyDeadlines, sweepInterval } from '../../../functions/runtime/body-deadlines';

let deadlines: BodyDeadlines | undefined;
afterEach(() => deadlines?.close());

describe('body deadlines', () => {
  it('expires a body once its deadline has passed, and only then', () => {
    let now = 0;
    deadlines = new BodyDeadlines(60_000, () => now);
    const expired: string[] = [];
    deadlines.add(500, () => expired.push('a'));
    now = 499;
    deadlines.sweep();
    expect(expired).toEqual([]);
    now = 500;
    deadlines.sweep();
    expect(expired).toEqual(['a']);
    deadlines.sweep();
    expect(expired).toEqual(['a']);
    expect(deadlines.size()).toBe(0);
  });

  it('never expires a body released before its deadline', () => {
    let now = 0;
    deadlines = new BodyDeadlines(60_000, () => now);
    let expired = false;
    const release = deadlines.add(100, () => {
      expired = true;
    });
    release();
    now = 1_000;
    deadlines.sweep();
    expect(expired).toBe(false);
    expect(deadlines.size()).toBe(0);
  });

  it('keeps each body to its own deadline', () => {
    let now = 0;
    deadlines = new BodyDeadlines(60_000, () => now);
    const expired: string[] = [];
    deadlines.add(20_000, () => expired.push('default'));
    deadlines.add(120_000, () => expired.push('held'));
    now = 20_000;
    deadlines.sweep();
    expect(expired).toEqual(['default']);
    now = 120_000;
    deadlines.sweep();
    expect(expired).toEqual(['default', 'held']);
  });

  it('sweeps on its own timer, so a trickled body ends without anyone calling sweep', async () => {
    deadlines = new BodyDeadlines(20);
    const ended = new Promise<number>((resolve) => {
      const start = performance.now();
      deadlines?.add(50, () => resolve(performance.now() - start));
    });
    const took = await ended;
    expect(took).toBeGreaterThanOrEqual(49);
    expect(took).toBeLessThan(2_000);
  });

  it('sweeps a quarter of the body deadline, between 10 ms and 1 s', () => {
    expect(sweepInterval(20_000)).toBe(1_000);
    expect(sweepInterval(500)).toBe(125);
    expect(sweepInterval(1)).toBe(10);
  });
});
