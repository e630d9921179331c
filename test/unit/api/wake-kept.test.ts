/**
 * A wake that finds no held sync (functions/api/agent/desired.ts releaseHeldSyncs) is kept for
 * the node's next hold, which then answers at once instead of the agent cutting its call (a new
 * connection). Kept for that node only, once, and only for WAKE_KEPT_MS.
 */
import { describe, expect, it } from 'vitest';
import { releaseHeldSyncs, WAKE_KEPT_MS, waitForDesired } from '../../../functions/api/agent/desired';
import type { Deps } from '../../../functions/deps';
import { MemoryStore } from '../../../functions/store/memory';

function fakeDeps() {
  let now = 1_000_000;
  const clock = () => now;
  const deps = { store: new MemoryStore(clock), clock } as unknown as Deps;
  return { deps, advance: (ms: number) => (now += ms) };
}

/** How long a hold of `ms` took (real time), and whether it saw a move. */
async function hold(deps: Deps, node: string, ms: number): Promise<number> {
  const started = performance.now();
  await waitForDesired(deps, node, ms);
  return performance.now() - started;
}

describe('a wake kept for the sync on its way', () => {
  it('answers the node’s next hold at once, and only that one', async () => {
    const { deps } = fakeDeps();
    expect(releaseHeldSyncs(deps, 'n1')).toEqual({ released: 0, kept: true });
    expect(await hold(deps, 'n1', 2_000)).toBeLessThan(100);
    expect(await hold(deps, 'n1', 150)).toBeGreaterThanOrEqual(140);
  });

  it('does not answer another node’s hold', async () => {
    const { deps } = fakeDeps();
    releaseHeldSyncs(deps, 'n1');
    expect(await hold(deps, 'n2', 150)).toBeGreaterThanOrEqual(140);
    expect(await hold(deps, 'n1', 2_000)).toBeLessThan(100);
  });

  it('is forgotten once older than it is kept', async () => {
    const { deps, advance } = fakeDeps();
    releaseHeldSyncs(deps, 'n1');
    advance(WAKE_KEPT_MS + 1);
    expect(await hold(deps, 'n1', 150)).toBeGreaterThanOrEqual(140);
  });

  it('releases a hold that is already waiting rather than keeping the wake', async () => {
    const { deps } = fakeDeps();
    const waiting = hold(deps, 'n1', 2_000);
    expect(releaseHeldSyncs(deps, 'n1')).toEqual({ released: 1, kept: false });
    expect(await waiting).toBeLessThan(100);
    expect(await hold(deps, 'n1', 150)).toBeGreaterThanOrEqual(140);
  });

  it('stays bounded when thousands of nodes wake and never sync', async () => {
    const { deps, advance } = fakeDeps();
    for (let i = 0; i < 5_000; i++) releaseHeldSyncs(deps, `old-${i}`);
    advance(WAKE_KEPT_MS + 1);
    for (let i = 0; i < 1_100; i++) releaseHeldSyncs(deps, `new-${i}`);
    // The old wakes went when the map outgrew the holds; the new ones are still kept.
    expect(await hold(deps, 'new-1099', 2_000)).toBeLessThan(100);
    expect(await hold(deps, 'old-4999', 150)).toBeGreaterThanOrEqual(140);
  });
});
