/**
 * A route change moves every node's record (routes are the whole cluster's: every node proxies
 * every Service). The fan-out writes them in batches of FAN_OUT_BATCH and lets the event loop turn
 * between batches, so thousands of nodes do not hold it (and the accepting of connections) for
 * one long transaction; every record still reaches the index's sequence.
 */
import { describe, expect, it } from 'vitest';
import type { Deps } from '../../../functions/deps';
import { createNodeDesired, NODE_DESIRED_KIND, type NodeDesired } from '../../../functions/node-desired';
import {
  type EndpointsLike,
  FAN_OUT_BATCH,
  publishRoutes,
  ROUTE_INDEX_REF,
  type RouteIndex,
  type ServiceLike,
} from '../../../functions/service-routes';
import { MemoryStore } from '../../../functions/store/memory';

const NODES = 1_200;

function service(name: string): ServiceLike {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name },
    spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
  };
}

function endpoints(name: string, ip: string): EndpointsLike {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: 'default', name },
    subsets: [{ addresses: [{ ip }], ports: [{ port: 8080 }] }],
  };
}

describe('the route fan-out', () => {
  it('brings every node record to the index in batches, with the event loop turning between them', async () => {
    // prepare: 1,200 nodes, a store that counts batch sizes
    const clock = () => 1_000_000;
    const store = new MemoryStore(clock);
    for (let i = 0; i < NODES; i++) await createNodeDesired(store, clock, `n${i}`);
    const batches: number[] = [];
    const writeBatch = store.writeBatch.bind(store);
    store.writeBatch = (ops) => {
      batches.push(ops.length);
      return writeBatch(ops);
    };
    const deps = { store, clock } as unknown as Deps;
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);

    // act: a Service appears, then its endpoint moves
    await publishRoutes(deps, [service('web')], new Map([['default/web', endpoints('web', '10.0.0.1')]]));
    const turnsBefore = turns;
    await publishRoutes(deps, [service('web')], new Map([['default/web', endpoints('web', '10.0.0.2')]]));
    ticking = false;

    // assess
    const index = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    const records = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
    expect(records).toHaveLength(NODES);
    expect(records.every((r) => r.spec.routes === String(index.spec.seq))).toBe(true);
    expect(index.spec.fannedOut).toBe(index.spec.seq);
    expect(Math.max(...batches)).toBeLessThanOrEqual(FAN_OUT_BATCH);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(2 * NODES);
    expect(turns - turnsBefore).toBeGreaterThanOrEqual(Math.ceil(NODES / FAN_OUT_BATCH) - 1);
  });

  it('writes nothing when the routes did not change', async () => {
    const clock = () => 1_000_000;
    const store = new MemoryStore(clock);
    for (let i = 0; i < 10; i++) await createNodeDesired(store, clock, `n${i}`);
    const deps = { store, clock } as unknown as Deps;
    const eps = new Map([['default/web', endpoints('web', '10.0.0.1')]]);
    await publishRoutes(deps, [service('web')], eps);
    let batches = 0;
    const writeBatch = store.writeBatch.bind(store);
    store.writeBatch = (ops) => {
      batches++;
      return writeBatch(ops);
    };
    await publishRoutes(deps, [service('web')], eps);
    expect(batches).toBe(0);
  });
});
