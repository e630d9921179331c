/**
 * The SQLite store's change events (functions/store/sqlite.ts `emit`): one frozen copy of the
 * written object for all listeners, so a busy server does not copy every write once per listener,
 * and no listener can change what another sees or what the writer got back.
 */
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../functions/store/sqlite';
import type { ChangeEvent, Obj } from '../../../functions/store/types';

const settle = () => new Promise((r) => setImmediate(r));
const pod = (): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
});

describe('SQLite change events', () => {
  it('give every listener the same frozen object, a copy of what the writer got back', async () => {
    const store = await SqliteStore.open(':memory:');
    const seen: ChangeEvent[][] = [[], [], []];
    for (const events of seen) store.watch((ev) => events.push(ev));

    const written = await store.create(pod());
    await settle();

    const [a, b, c] = seen.map((events) => events[0]?.object as Obj);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(a).not.toBe(written);
    expect(a).toEqual(written);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen((a as Obj).metadata.labels)).toBe(true);
    expect(Object.isFrozen(((a as Obj).spec as { containers: object[] }).containers[0])).toBe(true);
    await store.close();
  });

  it('refuse a listener that changes the object, and leave the writer free to change its own', async () => {
    const store = await SqliteStore.open(':memory:');
    const events: ChangeEvent[] = [];
    store.watch((ev) => events.push(ev));

    const written = await store.create(pod());
    await settle();
    (written.metadata.labels as Record<string, string>).app = 'changed by the writer';

    const seen = events[0]?.object as Obj;
    expect(() => {
      (seen.metadata.labels as Record<string, string>).app = 'changed by a listener';
    }).toThrow(TypeError);
    expect(seen.metadata.labels).toEqual({ app: 'web' });
    expect((await store.get({ kind: 'Pod', namespace: 'default', name: 'web' }))?.metadata.labels).toEqual({
      app: 'web',
    });
    await store.close();
  });

  it('carry deletions and batches as before: one event per object, in write order', async () => {
    const store = await SqliteStore.open(':memory:');
    const events: ChangeEvent[] = [];
    store.watch((ev) => events.push(ev));

    await store.writeBatch([
      { op: 'create', object: pod() },
      { op: 'create', object: { ...pod(), metadata: { name: 'api', namespace: 'default' } } },
    ]);
    await store.delete({ kind: 'Pod', namespace: 'default', name: 'web' });
    await settle();

    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED web', 'ADDED api', 'DELETED web']);
    await store.close();
  });
});
