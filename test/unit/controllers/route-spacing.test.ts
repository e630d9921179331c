/**
 * A route fan-out held back by its spacing (functions/service-routes.ts) is sent by the controller
 * manager when it is due, with no other write to trigger a pass: the pass that held it back asks
 * for a wake at its due time (the marker's wakeAt), and the scheduled check runs the pass then.
 */
import { describe, expect, it } from 'vitest';
import { createControllerManager } from '../../../functions/controllers/manager';
import { readMarker } from '../../../functions/controllers/marker';
import { silentLogger } from '../../../functions/log';
import { createNodeDesired, NODE_DESIRED_KIND, type NodeDesired } from '../../../functions/node-desired';
import { FAN_OUT_SPACING_MS_PER_NODE, ROUTE_INDEX_REF, type RouteIndex } from '../../../functions/service-routes';
import { MemoryStore } from '../../../functions/store/memory';

const NODES = 1_200;

const service = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name },
  spec: { clusterIP: '10.96.0.10', ports: [{ port: 80, protocol: 'TCP' }] },
});

describe('spaced route fan-outs', () => {
  it('are sent by the scheduled check once due, with no write to trigger them', async () => {
    // prepare: 1,200 nodes' records, one Service fanned out
    let now = Date.parse('2026-12-02T12:00:00Z');
    const clock = () => now;
    const store = new MemoryStore(clock);
    for (let i = 0; i < NODES; i++) await createNodeDesired(store, clock, `n${i}`);
    const manager = createControllerManager({ store, clock, log: silentLogger });
    await store.create(service('a'));
    await manager.runOnce();
    const first = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    const dueAt = (first.spec.fannedOutAt as number) + NODES * FAN_OUT_SPACING_MS_PER_NODE;
    const seqs = async () =>
      new Set((await store.list<NodeDesired>(NODE_DESIRED_KIND)).items.map((r) => r.spec.routes));

    // act: a second Service a second later, then the scheduled checks before and at its due time
    now += 1_000;
    await store.create(service('b'));
    expect(await manager.runLeased()).toBe(true);
    const heldBack = await seqs();
    const marker = await readMarker(store);
    now = dueAt - 100;
    const early = await manager.runScheduled();
    now = dueAt;
    const due = await manager.runScheduled();

    // assess
    const index = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    expect(index.spec.seq).toBe(first.spec.seq + 1);
    expect(heldBack).toEqual(new Set([String(first.spec.seq)]));
    expect(marker?.wakeAt).toBe(dueAt);
    expect(early).toBe(false);
    expect(due).toBe(true);
    expect(await seqs()).toEqual(new Set([String(index.spec.seq)]));
    expect(index.spec.fannedOut).toBe(index.spec.seq);
    await manager.stop();
  });
});
