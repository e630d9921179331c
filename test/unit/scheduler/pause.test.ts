/**
 * The scheduler's pause between pods (ScheduleOptions.pause): the controllers let agents' syncs
 * run while a pass plans hundreds of pods; pausing must change nothing the pass decides.
 */
import { describe, expect, it } from 'vitest';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { schedulePass } from '../../../functions/scheduler';
import { MemoryStore } from '../../../functions/store/memory';
import type { Pod } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';

async function cluster() {
  const store = new MemoryStore(() => 1_700_000_000_000);
  const deps: Deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
  for (let n = 0; n < 4; n++) await store.create(makeNode(`n${n}`));
  for (let p = 0; p < 12; p++) await store.create(makePod(`web-${String(p).padStart(2, '0')}`));
  return { store, deps };
}

const placement = async (deps: Deps) =>
  Object.fromEntries((await deps.store.list<Pod>('Pod')).items.map((p) => [p.metadata.name, p.spec.nodeName]));

describe('a scheduling pass that pauses between pods', () => {
  it('pauses once per pending pod and places every pod where a pass without pauses does', async () => {
    const plain = await cluster();
    const paused = await cluster();
    let pauses = 0;

    const a = await schedulePass(plain.deps);
    const b = await schedulePass(paused.deps, {
      pause: async () => {
        pauses++;
        await new Promise((r) => setImmediate(r));
      },
    });

    expect(pauses).toBe(12);
    expect(b).toEqual(a);
    expect(await placement(paused.deps)).toEqual(await placement(plain.deps));
    expect(Object.values(await placement(paused.deps)).every(Boolean)).toBe(true);
  });
});
