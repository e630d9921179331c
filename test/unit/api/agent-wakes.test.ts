/**
 * Coalesced wakes of held syncs (functions/api/agent/wake.ts): a node whose desired state moves
 * many times in a second is answered once or twice and loses none of it; route moves alone wait
 * their node's slot of an interval that grows with the nodes held.
 */
import { describe, expect, it } from 'vitest';
import { HELD_SYNC, MAX_SYNC_WAIT_SECONDS } from '../../../functions/api/agent/modes';
import {
  nodeOffsetMs,
  ROUTE_ANSWERS_PER_SECOND,
  routesIntervalMs,
  WORK_WAKE_INTERVAL_MS,
  wakeAt,
} from '../../../functions/api/agent/wake';
import type { NodeDesired } from '../../../functions/node-desired';
import { setup } from './agent-protocol-harness';
import { pod } from './harness';

const record = (spec: Partial<NodeDesired['spec']>): NodeDesired => ({
  apiVersion: 'ferry.dev/v1',
  kind: 'NodeDesired',
  metadata: { name: 'n1' },
  spec: { pods: 'p1', config: 'c1', logs: 'l1', routes: '7', changedAt: 0, ...spec },
});
const HELD = { pods: 'p1', config: 'c1', logs: 'l1', routes: '7' };
const NOW = 1_700_000_000_000;

describe('agent protocol: coalesced wakes', () => {
  it('answers ten pods created in quick succession with at most two answers, and every pod arrives', async () => {
    // prepare
    const { api, sync, syncAfter } = await setup(HELD_SYNC);
    let last = await sync();
    const answers: number[] = [];

    // act: a held agent loop (each answer followed by the next held sync) while ten pods are created
    const loop = (async () => {
      while (((last.json.pods as unknown[] | undefined) ?? []).length < 10 && answers.length < 10) {
        last = await syncAfter(last, { waitSeconds: 5 });
        answers.push((last.json.pods as unknown[] | undefined)?.length ?? -1);
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 10; i++) {
      await api.send('POST', '/api/v1/namespaces/default/pods', { body: pod(`web-${i}`, { nodeName: 'n1' }) });
      await new Promise((r) => setTimeout(r, 20));
    }
    await loop;

    // assess
    expect((last.json.pods as { metadata: { name: string } }[]).map((p) => p.metadata.name).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `web-${i}`).sort(),
    );
    expect(answers.length).toBeLessThanOrEqual(2);
  }, 15_000);

  it('wakes a node for work at once, and a node answered less than the interval ago at its end', () => {
    const moved = record({ pods: 'p2' });
    expect(wakeAt(moved, HELD, 'n1', NOW, undefined, 1000)).toBe(NOW);
    expect(wakeAt(moved, HELD, 'n1', NOW, NOW - 5_000, 1000)).toBe(NOW);
    expect(wakeAt(moved, HELD, 'n1', NOW, NOW - 200, 1000)).toBe(NOW - 200 + WORK_WAKE_INTERVAL_MS);
    // Without the held versions every move is work.
    expect(wakeAt(record({ routes: '8' }), undefined, 'n1', NOW, undefined, 1000)).toBe(NOW);
  });

  it('wakes a node for routes alone at its own slot of an interval that grows with the nodes held, up to one hold', () => {
    const routes = record({ routes: '8' });
    // A small cluster is answered at once: its endpoints reach every node within milliseconds.
    expect(routesIntervalMs(2)).toBe(4);
    expect(routesIntervalMs(ROUTE_ANSWERS_PER_SECOND * 2)).toBe(2_000);
    expect(routesIntervalMs(100_000)).toBe(MAX_SYNC_WAIT_SECONDS * 1000);
    const interval = routesIntervalMs(1000);
    const at = wakeAt(routes, HELD, 'node-42', NOW, undefined, 1000);
    expect(at).toBe(NOW + nodeOffsetMs('node-42', interval));
    expect(wakeAt(routes, HELD, 'node-42', NOW, NOW - 100, 1000)).toBeGreaterThanOrEqual(NOW - 100 + interval);

    // A thousand nodes' slots cover the interval: no one instant takes more than a few of them.
    const slots = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const s = Math.floor(nodeOffsetMs(`node-${i}`, interval) / 100);
      slots.set(s, (slots.get(s) ?? 0) + 1);
    }
    expect(slots.size).toBe(interval / 100);
    for (const n of slots.values()) expect(n).toBeLessThan(100);
  });
});
