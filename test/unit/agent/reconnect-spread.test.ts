/**
 * After a server restart every agent's held sync fails at once: the first retry is spread over the
 * window the server asked for (agent/backoff.ts reconnectDelayMs, the server's side in
 * functions/api/agent/desired.ts reconnectSpreadSeconds), so a 5,000-node fleet does not reconnect
 * within one second; later retries and small clusters keep the plain back-off.
 */
import { describe, expect, it } from 'vitest';
import { createBackoff, reconnectDelayMs } from '../../../agent/backoff';
import { reconnectSpreadSeconds, releaseHeldSyncs, waitForDesired } from '../../../functions/api/agent/desired';
import type { Deps } from '../../../functions/deps';
import { MemoryStore } from '../../../functions/store/memory';

describe('the agent spreads its first reconnect', () => {
  it('waits anywhere in the spread on the first failure, never past it', () => {
    const delays = [0, 0.25, 0.5, 0.999].map((r) => reconnectDelayMs(300, 5_000, true, () => r));
    expect(delays).toEqual([300, 1_250, 2_500, 4_995]);
  });

  it('spreads a thousand agents over the window rather than within the back-off', () => {
    const backoff = () => createBackoff(500, 15_000).next();
    const delays = Array.from({ length: 1_000 }, () => reconnectDelayMs(backoff(), 5_000, true));
    const inFirstSecond = delays.filter((d) => d < 1_000).length;
    expect(Math.max(...delays)).toBeLessThan(5_000);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(250);
    // Uniform over 5 s: about a fifth in the first second (all of them without the spread).
    expect(inFirstSecond).toBeGreaterThan(100);
    expect(inFirstSecond).toBeLessThan(320);
  });

  it('keeps the back-off alone on later failures, and when the server asked for no spread', () => {
    expect(reconnectDelayMs(700, 5_000, false, () => 0.99)).toBe(700);
    expect(reconnectDelayMs(700, 0, true, () => 0.99)).toBe(700);
  });
});

describe('the server asks for a spread by how many nodes hold a sync', () => {
  const deps = () => {
    const clock = () => 1_000_000;
    return { store: new MemoryStore(clock), clock } as unknown as Deps;
  };
  const holding = (d: Deps, n: number) => {
    for (let i = 0; i < n; i++) void waitForDesired(d, `n${i}`, 60_000);
    return () => {
      for (let i = 0; i < n; i++) releaseHeldSyncs(d, `n${i}`);
    };
  };

  it('asks none of a small cluster', () => {
    const d = deps();
    const release = holding(d, 50);
    expect(reconnectSpreadSeconds(d)).toBeUndefined();
    release();
  });

  it('asks a second a thousand nodes, at most five', () => {
    const d = deps();
    const release = holding(d, 2_000);
    expect(reconnectSpreadSeconds(d)).toBe(2);
    release();
    const e = deps();
    const releaseMany = holding(e, 8_000);
    expect(reconnectSpreadSeconds(e)).toBe(5);
    releaseMany();
  });
});
