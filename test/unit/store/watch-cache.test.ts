import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../functions/store/memory';
import type { ChangeEvent } from '../../../functions/store/types';
import { WatchCache } from '../../../functions/store/watch-cache';

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } });
const settle = () => new Promise((r) => setTimeout(r, 0));
const names = (events: ChangeEvent[]) => events.map((e) => `${e.type} ${e.object.metadata.name}`);

describe('the watch cache', () => {
  it('replays a kind changes after a revision, deletions included, then delivers new ones once', async () => {
    // prepare
    const store = new MemoryStore();
    const cache = new WatchCache(store, 10);
    await store.create(cm('a'));
    const { resourceVersion } = await store.list('ConfigMap');
    await store.create(cm('b'));
    await store.delete({ kind: 'ConfigMap', namespace: 'default', name: 'a' });
    await store.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' } });
    await settle();
    const live: ChangeEvent[] = [];

    // act
    const start = await cache.watchFrom('ConfigMap', BigInt(resourceVersion), (ev) => live.push(ev));
    await store.create(cm('c'));
    await settle();

    // assess
    if (!start.ok) throw new Error(start.reason);
    expect(names(start.replay)).toEqual(['ADDED b', 'DELETED a']);
    expect(names(live)).toEqual(['ADDED c']);
    start.stop();
  });

  it('answers Expired once a kind has dropped the events after the revision, while another kind still resumes', async () => {
    // prepare
    const store = new MemoryStore();
    const cache = new WatchCache(store, 2);
    await settle();
    const from = BigInt((await store.list('ConfigMap')).resourceVersion);
    for (const n of ['a', 'b', 'c']) await store.create(cm(n));
    await settle();

    // act
    const configMaps = await cache.watchFrom('ConfigMap', from, () => {});
    const secrets = await cache.watchFrom('Secret', from, () => {});

    // assess
    expect(configMaps).toMatchObject({ ok: false, reason: 'Expired' });
    expect(secrets.ok).toBe(true);
  });

  it('answers TooLarge for a revision the store never reached, and Expired for one before it started', async () => {
    // prepare
    const store = new MemoryStore();
    await store.create(cm('before'));
    await store.create(cm('before-2'));
    const cache = new WatchCache(store, 10);

    // act
    const future = await cache.watchFrom('ConfigMap', 10n ** 20n, () => {});
    const past = await cache.watchFrom('ConfigMap', 1n, () => {});

    // assess
    expect(future).toMatchObject({ ok: false, reason: 'TooLarge', current: 2n });
    expect(past).toMatchObject({ ok: false, reason: 'Expired', oldest: 2n });
  });
});
