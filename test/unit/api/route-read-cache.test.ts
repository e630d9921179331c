/**
 * A sync whose node record is at, or behind, the route index this server last read is answered
 * from that index without reading it again: during a fan-out thousands of records are one
 * sequence behind, and each of their syncs used to read and parse the index. A record ahead of it
 * (another server moved the index) still reads it, so no node is answered older than its record.
 */
import { describe, expect, it } from 'vitest';
import { readRoutes } from '../../../functions/api/agent/routes';
import type { Deps } from '../../../functions/deps';
import { createNodeDesired } from '../../../functions/node-desired';
import {
  type EndpointsLike,
  publishRoutes,
  ROUTE_INDEX_KIND,
  type ServiceLike,
} from '../../../functions/service-routes';
import { MemoryStore } from '../../../functions/store/memory';

const service = (name: string): ServiceLike => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name },
  spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
});
const endpoints = (ip: string): Map<string, EndpointsLike> =>
  new Map([
    [
      'default/web',
      {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { namespace: 'default', name: 'web' },
        subsets: [{ addresses: [{ ip }], ports: [{ port: 8080 }] }],
      },
    ],
  ]);

describe('reading the routes for a sync', () => {
  it('reads the index again only for a record ahead of the one it holds', async () => {
    // prepare: an index at sequence 2, a store that counts index reads
    const clock = () => 1_000_000;
    const store = new MemoryStore(clock);
    await createNodeDesired(store, clock, 'n1');
    const deps = { store, clock } as unknown as Deps;
    await publishRoutes(deps, [service('web')], endpoints('10.0.0.1'));
    await publishRoutes(deps, [service('web')], endpoints('10.0.0.2'));
    let indexReads = 0;
    const get = store.get.bind(store);
    store.get = ((ref) => {
      if (ref.kind === ROUTE_INDEX_KIND) indexReads++;
      return get(ref);
    }) as typeof store.get;

    const counted = async (held: string, record: string) => {
      const before = indexReads;
      const read = await readRoutes(deps, held, record);
      return { seq: read.seq, diff: read.diff, indexReads: indexReads - before };
    };

    // act
    const first = await counted('0', '2');
    const behind = await counted('0', '1');
    const same = await counted('1', '2');
    await publishRoutes(deps, [service('web')], endpoints('10.0.0.3'));
    const ahead = await counted('2', '3');

    // assess
    expect([first, behind, same].map((r) => [r.seq, r.indexReads])).toEqual([
      ['2', 1],
      ['2', 0],
      ['2', 0],
    ]);
    expect(ahead.indexReads).toBe(1);
    expect(ahead.seq).toBe('3');
    expect(ahead.diff?.services.map((s) => s.name)).toEqual(['web']);
  });
});
