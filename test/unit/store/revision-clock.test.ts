import { describe, expect, it } from 'vitest';
import { RevisionClock } from '../../../functions/store/revision-clock';

describe('RevisionClock (resourceVersions without a counter)', () => {
  it('issues increasing versions when the clock stands still or goes back', () => {
    let now = 1_700_000_000_000;
    const clock = new RevisionClock(() => now);
    const a = clock.next();
    const b = clock.next();
    now -= 60_000;
    const c = clock.next();
    expect(a).toBe(1_700_000_000_000_000);
    expect(b).toBe(a + 1);
    expect(c).toBe(b + 1);
  });

  it('puts a write above the stored version and above every version it has seen', () => {
    const clock = new RevisionClock(() => 1_000);
    expect(clock.next(5_000_000)).toBe(5_000_001);
    clock.observe(9_000_000);
    expect(clock.next()).toBe(9_000_001);
    clock.observe(Number.NaN);
    expect(clock.next()).toBe(9_000_002);
  });

  it('follows the wall clock in microseconds, so versions stay exact numbers until 2255', () => {
    const clock = new RevisionClock(() => Date.parse('2255-01-01T00:00:00Z'));
    const version = clock.next();
    expect(Number.isSafeInteger(version)).toBe(true);
    expect(String(version)).toHaveLength(16);
  });
});
