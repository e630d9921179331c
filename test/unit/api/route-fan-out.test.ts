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
  FAN_OUT_SPACING_MS_PER_NODE,
  publishRoutes,
  ROUTE_INDEX_REF,
  type RouteIndex,
  type ServiceLike,
  withdrawsFrom,
} from '../../../functions/service-routes';
import { MemoryStore } from '../../../functions/store/memory';
import type { ServiceRoute } from '../../../schemas/agent-protocol';

const NODES = 1_200;

function service(name: string): ServiceLike {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name },
    spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
  };
}

function endpoints(name: string, ...ips: string[]): EndpointsLike {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { namespace: 'default', name },
    subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port: 8080 }] }],
  };
}

/** `nodes` node records on a memory store whose clock the test moves (`time.now`). */
async function cluster(nodes: number) {
  const time = { now: 1_000_000 };
  const clock = () => time.now;
  const store = new MemoryStore(clock);
  for (let i = 0; i < nodes; i++) await createNodeDesired(store, clock, `n${i}`);
  return { time, store, deps: { store, clock } as unknown as Deps };
}

describe('the route fan-out', () => {
  it('brings every node record to the index in batches, with the event loop turning between them', async () => {
    // prepare: 1,200 nodes, a store that counts batch sizes
    const { time, store, deps } = await cluster(NODES);
    const batches: number[] = [];
    const writeBatch = store.writeBatch.bind(store);
    store.writeBatch = (ops) => {
      batches.push(ops.length);
      return writeBatch(ops);
    };
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
    time.now += NODES * FAN_OUT_SPACING_MS_PER_NODE;
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

  it('spaces fan-outs in a large cluster: a change soon after one waits, and then goes out with the next', async () => {
    // prepare: 1,200 nodes whose records are at the first change
    const { time, store, deps } = await cluster(NODES);
    // Pods only become ready (endpoints are added): nothing is taken away, so the spacing holds.
    const at = (...ips: string[]) => new Map([['default/web', endpoints('web', ...ips)]]);
    expect(await publishRoutes(deps, [service('web')], at('10.0.0.1'))).toEqual({});
    const first = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    const dueAt = time.now + NODES * FAN_OUT_SPACING_MS_PER_NODE;

    // act: two more changes within the spacing, then a pass after it with nothing new
    time.now += 1_000;
    const second = await publishRoutes(deps, [service('web')], at('10.0.0.1', '10.0.0.2'));
    const third = await publishRoutes(deps, [service('web')], at('10.0.0.1', '10.0.0.2', '10.0.0.3'));
    const heldBack = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
    time.now = dueAt;
    const late = await publishRoutes(deps, [service('web')], at('10.0.0.1', '10.0.0.2', '10.0.0.3'));

    // assess: the index moved at once, the records only when due, to the latest sequence
    expect(second).toEqual({ fanOutDueAt: dueAt });
    expect(third).toEqual({ fanOutDueAt: dueAt });
    expect(heldBack.every((r) => r.spec.routes === String(first.spec.seq))).toBe(true);
    expect(late).toEqual({});
    const index = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    expect(index.spec.seq).toBe(first.spec.seq + 2);
    expect(index.spec.fannedOut).toBe(index.spec.seq);
    const records = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
    expect(records.every((r) => r.spec.routes === String(index.spec.seq))).toBe(true);
  });

  it('sends a change that takes a Service or an endpoint away at once, spacing or not', async () => {
    // prepare: 1,200 nodes, two Services, fanned out
    const { time, store, deps } = await cluster(NODES);
    const eps = new Map([
      ['default/web', endpoints('web', '10.0.0.1')],
      ['default/api', endpoints('api', '10.0.0.2')],
    ]);
    await publishRoutes(deps, [service('web'), service('api')], eps);

    // act: a second later, one Service is deleted; a second after that, an endpoint goes
    time.now += 1_000;
    const deleted = await publishRoutes(deps, [service('web')], eps);
    const afterDelete = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    time.now += 1_000;
    eps.set('default/web', endpoints('web'));
    const lost = await publishRoutes(deps, [service('web')], eps);

    // assess
    const index = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    expect([deleted, lost]).toEqual([{}, {}]);
    expect(afterDelete.spec.fannedOut).toBe(afterDelete.spec.seq);
    expect(index.spec.seq).toBe(afterDelete.spec.seq + 1);
    expect(index.spec.withdrawn).toBe(index.spec.seq);
    expect(index.spec.fannedOut).toBe(index.spec.seq);
    const records = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
    expect(records.every((r) => r.spec.routes === String(index.spec.seq))).toBe(true);
  });

  it('counts a lost endpoint, port, node port or headless pod as taking away, and an added one not', () => {
    const route = (endpointIps: string[], extra: Partial<ServiceRoute> = {}): ServiceRoute => ({
      namespace: 'default',
      name: 'web',
      ports: [
        { port: 80, nodePort: 30080, protocol: 'TCP', endpoints: endpointIps.map((ip) => ({ ip, port: 31000 })) },
      ],
      ...extra,
    });
    expect(withdrawsFrom(route(['10.0.0.1']), route(['10.0.0.1', '10.0.0.2']))).toBe(false);
    expect(withdrawsFrom(route(['10.0.0.1', '10.0.0.2']), route(['10.0.0.2']))).toBe(true);
    expect(withdrawsFrom(route(['10.0.0.1']), { ...route([]), ports: [] })).toBe(true);
    const moved = route(['10.0.0.1']);
    (moved.ports[0] as { nodePort?: number }).nodePort = 30081;
    expect(withdrawsFrom(route(['10.0.0.1']), moved)).toBe(true);
    expect(withdrawsFrom(route([], { pods: [{ ip: '172.17.0.2' }] }), route([], { pods: [] }))).toBe(true);
    expect(withdrawsFrom(route([], { pods: [] }), route([], { pods: [{ ip: '172.17.0.2' }] }))).toBe(false);
  });

  it('does not space fan-outs in a small cluster', async () => {
    const { store, deps } = await cluster(10);
    await publishRoutes(deps, [service('web')], new Map([['default/web', endpoints('web', '10.0.0.1')]]));
    expect(
      await publishRoutes(deps, [service('web')], new Map([['default/web', endpoints('web', '10.0.0.2')]])),
    ).toEqual({});
    const index = (await store.get<RouteIndex>(ROUTE_INDEX_REF)) as RouteIndex;
    const records = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
    expect(records.every((r) => r.spec.routes === String(index.spec.seq))).toBe(true);
  });

  it('writes nothing when the routes did not change', async () => {
    const { store, deps } = await cluster(10);
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
