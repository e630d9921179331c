import { describe, expect, it } from 'vitest';
import { ClusterSnapshot } from '../../../functions/controllers/snapshot';
import { isConflict } from '../../../functions/errors';
import { MemoryStore } from '../../../functions/store/memory';
import type { Pod } from '../../../schemas';
import { makePod } from '../../helpers/objects';

function pod(name: string, extra: { nodeName?: string; owner?: string; labels?: Record<string, string> } = {}): Pod {
  const p = makePod(name, extra.owner ? { owner: { kind: 'ReplicaSet', name: 'rs', uid: extra.owner } } : {});
  return {
    ...p,
    metadata: { ...p.metadata, labels: { ...p.metadata.labels, ...extra.labels } },
    spec: { ...p.spec, ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
  };
}

describe('the cluster snapshot', () => {
  it('answers lists by namespace, node and label from one read, sorted as the store sorts', async () => {
    const store = new MemoryStore(() => 0);
    await store.create(pod('b', { nodeName: 'n1', labels: { app: 'web' } }));
    await store.create(pod('a', { nodeName: 'n2' }));
    await store.create(pod('c', { nodeName: 'n1' }));
    let lists = 0;
    const counted = new Proxy(store, {
      get: (t, p, r) => {
        if (p !== 'list') return Reflect.get(t, p, r);
        return (...a: [string]) => {
          lists++;
          return t.list(...a);
        };
      },
    });
    const snapshot = new ClusterSnapshot(counted);

    const onN1 = await snapshot.store.list<Pod>('Pod', { nodeName: 'n1' });
    const web = await snapshot.store.list<Pod>('Pod', { labelSelector: 'app=web' });
    const all = await snapshot.store.list<Pod>('Pod', { namespace: 'default' });

    expect(onN1.items.map((p) => p.metadata.name)).toEqual(['b', 'c']);
    expect(web.items.map((p) => p.metadata.name)).toEqual(['b']);
    expect(all.items.map((p) => p.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(lists).toBe(1);
  });

  it("keeps itself current with the pass's own writes, and takes in what a conflict says is stored", async () => {
    const store = new MemoryStore(() => 0);
    const stored = await store.create(pod('a', { owner: 'rs-1' }));
    const snapshot = new ClusterSnapshot(store);
    await snapshot.list('Pod');

    await snapshot.store.create(pod('b', { owner: 'rs-1', nodeName: 'n1' }));
    expect((await snapshot.ownedBy<Pod>('Pod', 'rs-1')).map((p) => p.metadata.name).sort()).toEqual(['a', 'b']);
    expect((await snapshot.podsOn<Pod>('n1')).map((p) => p.metadata.name)).toEqual(['b']);

    // Someone else changes `a`; our write from the old copy loses, and the snapshot now holds theirs.
    await store.update({ ...stored, metadata: { ...stored.metadata, labels: { theirs: 'yes' } } });
    const lost = await snapshot.store
      .update({ ...stored, metadata: { ...stored.metadata, labels: { ours: 'x' } } })
      .catch((err: unknown) => err);
    expect(isConflict(lost)).toBe(true);
    const held = (await snapshot.list<Pod>('Pod')).find((p) => p.metadata.name === 'a');
    expect(held?.metadata.labels?.theirs).toBe('yes');

    await snapshot.store.delete({ kind: 'Pod', namespace: 'default', name: 'b' });
    expect(await snapshot.podsOn('n1')).toEqual([]);
  });
});
