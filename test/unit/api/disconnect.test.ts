/**
 * The held-sync disconnect check: a cut held call marks the node Unknown only when its agent did
 * not call again. An agent that called again but whose sync is still on its way to the Lease
 * renewal (a busy server) is there, and its node stays Ready.
 */
import { describe, expect, it } from 'vitest';
import { suspectDisconnect } from '../../../functions/api/agent/disconnect';
import { syncStarted } from '../../../functions/api/agent/sync-lag';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Node } from '../../../schemas';
import { makeNode } from '../../helpers/objects';

const readyOf = async (store: MemoryStore, name: string) =>
  (await store.get<Node>({ kind: 'Node', name }))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

const settle = () => new Promise((r) => setTimeout(r, 80));

describe('the disconnect check after a cut held sync', () => {
  it('marks the node Unknown when its agent does not call again within the grace', async () => {
    const store = new MemoryStore();
    await store.create(makeNode('gone'));

    suspectDisconnect({ store, clock: Date.now, log: silentLogger }, 'gone', 20);
    await settle();

    expect(await readyOf(store, 'gone')).toBe('Unknown');
  });

  it('keeps the node Ready when its agent called again, though that sync has not renewed the Lease yet', async () => {
    const store = new MemoryStore();
    await store.create(makeNode('back'));

    suspectDisconnect({ store, clock: Date.now, log: silentLogger }, 'back', 20);
    await new Promise((r) => setTimeout(r, 2));
    syncStarted(store, 'back', Date.now());
    await settle();

    expect(await readyOf(store, 'back')).toBe('True');
  });

  it('leaves nodes to their Leases while many cut at once have not called again, and marks a lone one once they are back', async () => {
    // prepare: forty nodes heard from, their syncs started
    const store = new MemoryStore();
    const deps = { store, clock: Date.now, log: silentLogger };
    const names = Array.from({ length: 40 }, (_, i) => `n${i}`);
    for (const n of names) {
      await store.create(makeNode(n));
      syncStarted(store, n, Date.now() - 10);
    }

    // act: ten cut together (a stalled path between them and the server); later they are back
    for (const n of names.slice(0, 10)) suspectDisconnect(deps, n, 20);
    await settle();
    const afterMassCut = await Promise.all(names.slice(0, 10).map((n) => readyOf(store, n)));
    for (const n of names.slice(0, 10)) syncStarted(store, n, Date.now());
    suspectDisconnect(deps, 'n39', 20);
    await settle();

    // assess
    expect(afterMassCut).toEqual(Array(10).fill('True'));
    expect(await readyOf(store, 'n39')).toBe('Unknown');
  });
});
