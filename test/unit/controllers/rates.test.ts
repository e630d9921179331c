import { describe, expect, it } from 'vitest';
import { slowStartBatch } from '../../../functions/controllers/create-batches';
import { leaseTiming } from '../../../functions/controllers/manager';
import type { Deps } from '../../../functions/deps';
import { EVENT_BURST, EVENT_REFILL_MS, recordEvent } from '../../../functions/events';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import { makeNode } from '../../helpers/objects';

function setup() {
  const now = { ms: 1_700_000_000_000 };
  const store = new MemoryStore(() => now.ms);
  const deps: Deps = { store, clock: () => now.ms, log: silentLogger };
  return { now, store, deps };
}

describe('slow-start batches', () => {
  it('creates in batches of 1, 2, 4 and stops after the batch with the first error', async () => {
    let calls = 0;
    const result = await slowStartBatch(100, async () => {
      calls++;
      if (calls === 5) throw new Error('quota exceeded');
    });
    // Batches 1 + 2 + 4: the fifth call failed inside the third batch; no fourth batch runs.
    expect(calls).toBe(7);
    expect(result.created).toBe(6);
    expect(String(result.error)).toContain('quota exceeded');
  });

  it('makes exactly the count asked for when nothing fails', async () => {
    let calls = 0;
    const result = await slowStartBatch(10, async () => {
      calls++;
    });
    expect(calls).toBe(10);
    expect(result).toEqual({ created: 10 });
  });
});

describe('the event recorder', () => {
  it('aggregates repeats of one event into one Event with a count', async () => {
    const { store, deps, now } = setup();
    const node = await store.create(makeNode('n1'));
    for (let i = 0; i < 5; i++) {
      now.ms += 1_000;
      await recordEvent(deps, node, 'Normal', 'NodeNotReady', 'Node n1 status is now: NodeNotReady');
    }
    const events = (await store.list('Event')).items;
    expect(events).toHaveLength(1);
    expect(events[0]?.count).toBe(5);
    expect(events[0]?.lastTimestamp).toBe(new Date(now.ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  });

  it('drops what passes 25 events per object and source, and lets one more through every 5 minutes', async () => {
    const { store, deps, now } = setup();
    const node = await store.create(makeNode('n2'));
    for (let i = 0; i < 40; i++) await recordEvent(deps, node, 'Warning', 'Flapping', `message ${i}`);
    expect((await store.list('Event')).items).toHaveLength(EVENT_BURST);

    now.ms += EVENT_REFILL_MS;
    await recordEvent(deps, node, 'Warning', 'Flapping', 'after the refill');
    await recordEvent(deps, node, 'Warning', 'Flapping', 'one too many');
    const messages = (await store.list('Event')).items.map((e) => e.message);
    expect(messages).toContain('after the refill');
    expect(messages).not.toContain('one too many');
  });
});

describe('controller-manager lease timing', () => {
  it('a standby takes over within the documented TTL: the written lease plus one retry fits in it', () => {
    for (const ttl of [1_500, 15_000, 60_000]) {
      const t = leaseTiming(ttl);
      expect(t.writtenTtlMs + t.retryMs).toBeLessThanOrEqual(ttl);
      // The leader renews at least twice within the written lease, so one slow renewal loses nothing.
      expect(t.renewMs * 2).toBeLessThan(t.writtenTtlMs);
    }
  });
});
