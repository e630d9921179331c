/**
 * The controllers' list cache (functions/controllers/list-cache.ts): lists kept from the store's
 * change feed between passes, as fresh as a list, started over when a write did not reach the feed.
 */
import { describe, expect, it } from 'vitest';
import { ListCache } from '../../../functions/controllers/list-cache';
import { createControllerManager } from '../../../functions/controllers/manager';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { ChangeListener, Obj, StateStore } from '../../../functions/store/types';
import type { Pod } from '../../../schemas';
import { makeNode } from '../../helpers/objects';
import { deployment } from '../../integration/sim/harness';

const cm = (name: string, namespace = 'default'): Obj => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { a: name },
});
const names = (items: Obj[]) => items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
const settle = () => new Promise((r) => setImmediate(r));

/** A memory store that counts whole-kind lists, and whose feed can be told to drop the next events. */
function observed() {
  const raw = new MemoryStore();
  const lists = new Map<string, number>();
  const feed = { drop: 0 };
  const store = new Proxy(raw, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'list')
        return (kind: string, ...rest: unknown[]) => {
          if (rest[0] === undefined) lists.set(kind, (lists.get(kind) ?? 0) + 1);
          return raw.list(kind, ...(rest as []));
        };
      if (prop === 'watch')
        return (listener: ChangeListener) =>
          raw.watch((ev) => {
            if (feed.drop > 0) feed.drop--;
            else listener(ev);
          });
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as StateStore;
  return { store, raw, lists, feed };
}

describe('the controllers list cache', () => {
  it('answers a kind listed once from the change feed: creations, updates and deletions, in the store order', async () => {
    // prepare
    const { store, lists } = observed();
    const cache = new ListCache(store);
    await store.create(cm('b'));
    await cache.list('ConfigMap');

    // act
    await store.create(cm('a'));
    await store.create(cm('c', 'a-ns'));
    const b = await store.get({ kind: 'ConfigMap', namespace: 'default', name: 'b' });
    await store.update({ ...(b as Obj), data: { a: 'changed' } });
    await store.create(cm('d'));
    await store.delete({ kind: 'ConfigMap', namespace: 'default', name: 'd' });
    await settle();
    await cache.verify();
    const cached = await cache.list('ConfigMap');

    // assess
    const fresh = await store.list('ConfigMap');
    expect(cached.items).toEqual(fresh.items);
    expect(names(cached.items)).toEqual(['a-ns/c', 'default/a', 'default/b']);
    expect(cached.resourceVersion).toBe(fresh.resourceVersion);
    expect(lists.get('ConfigMap')).toBe(2); // the first list and the fresh one above, none by the cache since
    cache.stop();
  });

  it('lists again when a write did not reach its feed (another process writing the same file)', async () => {
    // prepare
    const { store, lists, feed } = observed();
    const cache = new ListCache(store);
    await store.create(cm('a'));
    await cache.list('ConfigMap');

    // act: one write the feed misses, then one it shows
    feed.drop = 1;
    await store.create(cm('unseen'));
    await store.create(cm('seen'));
    await settle();
    await cache.verify();
    const after = await cache.list('ConfigMap');

    // assess
    expect(names(after.items)).toEqual(['default/a', 'default/seen', 'default/unseen']);
    expect(lists.get('ConfigMap')).toBe(2);
    cache.stop();
  });

  it('lists again when the last write missed its feed, so the gap shows only as the store being ahead', async () => {
    // prepare
    const { store, feed } = observed();
    const cache = new ListCache(store);
    await cache.list('ConfigMap');

    // act
    feed.drop = 1;
    await store.create(cm('unseen'));
    await settle();
    await cache.verify();

    // assess
    expect(names((await cache.list('ConfigMap')).items)).toEqual(['default/unseen']);
    cache.stop();
  });

  it('hands out objects that cannot be changed in place, so no pass can corrupt the next', async () => {
    // prepare
    const { store } = observed();
    const cache = new ListCache(store);
    await store.create(cm('a'));
    const [listed] = (await cache.list('ConfigMap')).items;
    await store.create(cm('b'));
    await settle();
    const fromFeed = (await cache.list('ConfigMap')).items[1] as Obj;

    // act / assess
    expect(() => {
      (listed as unknown as { data: Record<string, string> }).data.a = 'mutated';
    }).toThrow(TypeError);
    expect(() => {
      fromFeed.metadata.name = 'renamed';
    }).toThrow(TypeError);
    cache.stop();
  });

  it("lets a manager's passes carry a Deployment to bound pods listing Pods once, and see a pod deleted by someone else", async () => {
    // prepare
    const { store, lists } = observed();
    await store.create(makeNode('n1'));
    const manager = createControllerManager({ store, clock: Date.now, log: silentLogger }, { listCache: true });
    manager.start();
    await store.create(deployment('web', 3));
    const bound = async () =>
      (await store.list<Pod>('Pod', { namespace: 'default' })).items.filter((p) => p.spec.nodeName === 'n1');
    for (let i = 0; i < 100 && (await bound()).length < 3; i++) await new Promise((r) => setTimeout(r, 20));

    // act: a pod deleted outside the manager is replaced from the feed, without a new list
    const [first] = await bound();
    await store.delete({ kind: 'Pod', namespace: 'default', name: (first as Pod).metadata.name });
    for (let i = 0; i < 100; i++) {
      const now = await bound();
      if (now.length === 3 && !now.some((p) => p.metadata.name === first?.metadata.name)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await manager.stop();

    // assess
    const pods = await bound();
    expect(pods).toHaveLength(3);
    expect(pods.map((p) => p.metadata.name)).not.toContain(first?.metadata.name);
    // Whole-kind lists of Pods: the first pass's only, however many passes ran.
    expect(lists.get('Pod')).toBe(1);
  });
});
